// Command badinput sends snapkeepd requests that must be refused and checks,
// for each: the exact gRPC status code (and the containerd errdefs class the
// proxy client maps it to), that the daemon process is still alive and
// answers a Stat, and that List afterwards shows exactly the snapshots that
// should exist, with unchanged kinds, parents and labels. At the end the
// daemon is stopped with SIGTERM and restarted on the same root, and the
// metadata must still be exactly the same.
//
// Prints "ok <case>" or "not ok <case>: why" per case; exit 1 if any failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/snapshots"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"snapkeep-tests/sktest"
)

const svc = "/containerd.services.snapshots.v1.Snapshots/"

// rawCodec sends bytes exactly as given, so we can put invalid protobuf on
// the wire; replies are kept as bytes too.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

type state struct {
	ctx     context.Context
	d       *sktest.Daemon
	conn    *grpc.ClientConn
	raw     snapshotsapi.SnapshotsClient
	sn      snapshots.Snapshotter
	want    map[string]snapshots.Info // what List must show (name, kind, parent, labels)
	failed  int
	timeout time.Duration
}

func (s *state) report(name string, err error) {
	if err != nil {
		s.failed++
		fmt.Printf("not ok %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok %s\n", name)
}

func (s *state) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.timeout)
}

// expectCode checks a raw gRPC error against a code, and the errdefs class
// containerd derives from it, plus an optional message fragment.
func expectCode(err error, want codes.Code, class func(error) bool, msgPart string) error {
	if err == nil {
		return fmt.Errorf("succeeded, want %v", want)
	}
	st, _ := status.FromError(err)
	if st.Code() != want {
		return fmt.Errorf("got code %v (%q), want %v", st.Code(), st.Message(), want)
	}
	if class != nil && !class(errdefs.FromGRPC(err)) {
		return fmt.Errorf("containerd maps %v to %v, not the expected errdefs class", err, errdefs.FromGRPC(err))
	}
	if msgPart != "" && !strings.Contains(strings.ToLower(st.Message()), msgPart) {
		return fmt.Errorf("message %q does not contain %q", st.Message(), msgPart)
	}
	return nil
}

// healthy: process alive, Stat answers, List shows exactly s.want.
func (s *state) healthy() error {
	if !s.d.Alive() {
		return fmt.Errorf("snapkeepd died\n%s", s.d.LogTail(20))
	}
	ctx, cancel := s.callCtx()
	defer cancel()
	if _, err := s.sn.Stat(ctx, "base"); err != nil {
		return fmt.Errorf("Stat(base) after the call: %v", err)
	}
	got, err := sktest.ListAll(ctx, s.sn)
	if err != nil {
		return fmt.Errorf("List after the call: %v", err)
	}
	return compare(got, s.want)
}

func compare(got, want map[string]snapshots.Info) error {
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%q missing", name))
			continue
		}
		if g.Kind != w.Kind || g.Parent != w.Parent {
			diffs = append(diffs, fmt.Sprintf("%q is %v parent %q, want %v parent %q", name, g.Kind, g.Parent, w.Kind, w.Parent))
		}
		if len(g.Labels)+len(w.Labels) > 0 && !reflect.DeepEqual(g.Labels, w.Labels) {
			diffs = append(diffs, fmt.Sprintf("%q labels %v, want %v", name, g.Labels, w.Labels))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %q (%v)", name, got[name].Kind))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("metadata not consistent: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// check runs one bad call and then the health check.
func (s *state) check(name string, call func(ctx context.Context) error) {
	ctx, cancel := s.callCtx()
	err := call(ctx)
	cancel()
	if err == nil {
		err = s.healthy()
	}
	s.report(name, err)
}

func (s *state) rawUnary(ctx context.Context, method string, payload []byte) error {
	var reply []byte
	return s.conn.Invoke(ctx, svc+method, payload, &reply, grpc.ForceCodec(rawCodec{}))
}

func (s *state) rawList(ctx context.Context, payload []byte) error {
	st, err := s.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, svc+"List", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := st.SendMsg(payload); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	for {
		var reply []byte
		if err := st.RecvMsg(&reply); err != nil {
			return err
		}
	}
}

func (s *state) setup() error {
	ctx, cancel := s.callCtx()
	defer cancel()
	lbl := map[string]string{"sk.test/role": "base"}
	if _, err := s.sn.Prepare(ctx, "base-active", ""); err != nil {
		return fmt.Errorf("Prepare base-active: %w", err)
	}
	if err := s.sn.Commit(ctx, "base", "base-active", snapshots.WithLabels(lbl)); err != nil {
		return fmt.Errorf("Commit base: %w", err)
	}
	if _, err := s.sn.View(ctx, "base-view", "base"); err != nil {
		return fmt.Errorf("View base-view: %w", err)
	}
	if _, err := s.sn.Prepare(ctx, "child", "base"); err != nil {
		return fmt.Errorf("Prepare child: %w", err)
	}
	s.want = map[string]snapshots.Info{
		"base":      {Name: "base", Kind: snapshots.KindCommitted, Labels: lbl},
		"base-view": {Name: "base-view", Kind: snapshots.KindView, Parent: "base"},
		"child":     {Name: "child", Kind: snapshots.KindActive, Parent: "base"},
	}
	return s.healthy()
}

func (s *state) connect() error {
	var err error
	s.conn, err = sktest.Dial(s.ctx, s.d.Socket)
	if err != nil {
		return err
	}
	s.raw = snapshotsapi.NewSnapshotsClient(s.conn)
	s.sn = sktest.Snapshotter(s.conn)
	return nil
}

func main() {
	bin := flag.String("snapkeepd", os.Getenv("SNAPKEEPD"), "snapkeepd binary")
	dir := flag.String("dir", "", "work directory (root, socket and log go inside)")
	flag.Parse()
	if *bin == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: badinput -snapkeepd BIN -dir DIR")
		os.Exit(2)
	}
	root := filepath.Join(*dir, "root")
	sock := filepath.Join(*dir, "snapkeep.sock")
	logPath := filepath.Join(*dir, "snapkeepd.log")
	d, err := sktest.Start(*bin, root, sock, logPath)
	if err != nil {
		fmt.Printf("not ok start: %v\n", err)
		os.Exit(1)
	}
	s := &state{ctx: context.Background(), d: d, timeout: 10 * time.Second}
	defer func() { s.d.KillIfAlive() }() // s.d: the daemon after the restart
	if err := s.connect(); err != nil {
		fmt.Printf("not ok dial: %v\n", err)
		os.Exit(1)
	}
	if err := s.setup(); err != nil {
		s.report("setup", err)
		s.d.Kill()
		os.Exit(1)
	}
	s.report("setup (base, base-view, child)", nil)

	// --- malformed protobuf payloads
	malformed := map[string][]byte{
		"truncated-length-delimited": {0x12, 0x10, 'a'},
		"invalid-wire-type":          {0x17, 0x01},
		"overlong-varint":            {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"truncated-map-entry":        {0x12, 0x01, 'k', 0x22, 0x03, 0x0a, 0x09, 'a'},
	}
	for _, n := range sktest.SortedKeys(malformed) {
		p := malformed[n]
		s.check("malformed protobuf "+n+" to Prepare -> InvalidArgument", func(ctx context.Context) error {
			return expectCode(s.rawUnary(ctx, "Prepare", p), codes.InvalidArgument, errdefs.IsInvalidArgument, "")
		})
	}
	for _, m := range []string{"View", "Mounts", "Commit", "Remove", "Stat", "Update", "Usage", "Cleanup"} {
		m := m
		s.check("malformed protobuf to "+m+" -> InvalidArgument", func(ctx context.Context) error {
			return expectCode(s.rawUnary(ctx, m, malformed["truncated-length-delimited"]), codes.InvalidArgument, errdefs.IsInvalidArgument, "")
		})
	}
	s.check("malformed protobuf to List (stream) -> InvalidArgument", func(ctx context.Context) error {
		return expectCode(s.rawList(ctx, malformed["truncated-length-delimited"]), codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})

	// --- empty keys
	s.check("Prepare with empty key -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: ""})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("View with empty key -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.raw.View(ctx, &snapshotsapi.ViewSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "", Parent: "base"})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("Commit with empty name -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.raw.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: sktest.SnapshotterName, Name: "", Key: "child"})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("empty request body to Prepare (empty key) -> InvalidArgument", func(ctx context.Context) error {
		return expectCode(s.rawUnary(ctx, "Prepare", []byte{}), codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})

	// --- missing parent / missing keys
	s.check("Prepare with missing parent -> NotFound", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "orphan", Parent: "no-such-parent"})
		return expectCode(err, codes.NotFound, errdefs.IsNotFound, "")
	})
	s.check("View with missing parent -> NotFound", func(ctx context.Context) error {
		_, err := s.raw.View(ctx, &snapshotsapi.ViewSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "orphan-view", Parent: "no-such-parent"})
		return expectCode(err, codes.NotFound, errdefs.IsNotFound, "")
	})
	s.check("Prepare with an active parent -> InvalidArgument (as containerd's storage)", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "on-active", Parent: "child"})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("Commit of a missing key -> NotFound", func(ctx context.Context) error {
		_, err := s.raw.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: sktest.SnapshotterName, Name: "never", Key: "no-such-key"})
		return expectCode(err, codes.NotFound, errdefs.IsNotFound, "")
	})
	s.check("Stat/Mounts/Usage/Remove of a missing key -> NotFound", func(ctx context.Context) error {
		k := "no-such-key"
		if _, err := s.raw.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: k}); expectCode(err, codes.NotFound, errdefs.IsNotFound, "") != nil {
			return fmt.Errorf("Stat: %v", expectCode(err, codes.NotFound, errdefs.IsNotFound, ""))
		}
		if _, err := s.raw.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: sktest.SnapshotterName, Key: k}); expectCode(err, codes.NotFound, errdefs.IsNotFound, "") != nil {
			return fmt.Errorf("Mounts: %v", expectCode(err, codes.NotFound, errdefs.IsNotFound, ""))
		}
		if _, err := s.raw.Usage(ctx, &snapshotsapi.UsageRequest{Snapshotter: sktest.SnapshotterName, Key: k}); expectCode(err, codes.NotFound, errdefs.IsNotFound, "") != nil {
			return fmt.Errorf("Usage: %v", expectCode(err, codes.NotFound, errdefs.IsNotFound, ""))
		}
		if _, err := s.raw.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: k}); expectCode(err, codes.NotFound, errdefs.IsNotFound, "") != nil {
			return fmt.Errorf("Remove: %v", expectCode(err, codes.NotFound, errdefs.IsNotFound, ""))
		}
		return nil
	})
	s.check("Prepare of an existing key -> AlreadyExists", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "base"})
		return expectCode(err, codes.AlreadyExists, errdefs.IsAlreadyExists, "")
	})

	// --- oversized labels (containerd: len(key)+len(value) > 4096)
	big := strings.Repeat("v", 4097-len("sk.test/big"))
	s.check("Prepare with a 4097-byte label pair -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "big-label",
			Labels: map[string]string{"sk.test/big": big}})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("Commit with a 4097-byte label pair -> InvalidArgument, active kept", func(ctx context.Context) error {
		_, err := s.raw.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: sktest.SnapshotterName, Name: "big-commit", Key: "child",
			Labels: map[string]string{"sk.test/big": big}})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("Update with a 4097-byte label pair -> InvalidArgument, labels unchanged", func(ctx context.Context) error {
		_, err := s.raw.Update(ctx, &snapshotsapi.UpdateSnapshotRequest{Snapshotter: sktest.SnapshotterName,
			Info: snapshotsapi.Info{Name: "base", Labels: map[string]string{"sk.test/big": big}}})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("Prepare with a 4097-byte label key -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "big-key",
			Labels: map[string]string{strings.Repeat("k", 4097): ""}})
		return expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, "")
	})
	s.check("a label pair of exactly 4096 bytes is accepted (containerd's limit)", func(ctx context.Context) error {
		v := strings.Repeat("v", 4096-len("sk.test/edge"))
		if _, err := s.sn.Prepare(ctx, "edge-label", "", snapshots.WithLabels(map[string]string{"sk.test/edge": v})); err != nil {
			return fmt.Errorf("Prepare: %v", err)
		}
		info, err := s.sn.Stat(ctx, "edge-label")
		if err != nil {
			return fmt.Errorf("Stat: %v", err)
		}
		if info.Labels["sk.test/edge"] != v {
			return fmt.Errorf("label not stored intact (%d bytes back)", len(info.Labels["sk.test/edge"]))
		}
		if err := s.sn.Remove(ctx, "edge-label"); err != nil {
			return fmt.Errorf("Remove: %v", err)
		}
		return nil
	})
	s.check("Update with an unknown field path -> InvalidArgument", func(ctx context.Context) error {
		_, err := s.sn.Update(ctx, snapshots.Info{Name: "base", Parent: "x"}, "parent")
		if !errdefs.IsInvalidArgument(err) {
			return fmt.Errorf("got %v, want InvalidArgument", err)
		}
		return nil
	})

	// --- strings with an embedded NUL byte: valid proto3, but a C string
	// would cut them short and alias another key. Either refuse them or keep
	// them byte-exact.
	s.check("key with an embedded NUL byte -> InvalidArgument or byte-exact (no aliasing)", func(ctx context.Context) error {
		for _, key := range []string{"base\x00suffix", "nul\x00key"} {
			_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: key})
			if status.Code(err) == codes.InvalidArgument {
				continue
			}
			if err != nil {
				return fmt.Errorf("Prepare(%q): %v (want InvalidArgument or success as a distinct key)", key, err)
			}
			info, err := s.sn.Stat(ctx, key)
			if err != nil || info.Name != key {
				return fmt.Errorf("Prepare(%q) succeeded but Stat gives %q, %v", key, info.Name, err)
			}
			if cut := strings.SplitN(key, "\x00", 2)[0]; s.want[cut].Name == "" {
				if _, err := s.sn.Stat(ctx, cut); !errdefs.IsNotFound(err) {
					return fmt.Errorf("Prepare(%q) made Stat(%q) answer %v: the key was cut at the NUL", key, cut, err)
				}
			}
			if err := s.sn.Remove(ctx, key); err != nil {
				return fmt.Errorf("Remove(%q): %v", key, err)
			}
		}
		return nil
	})
	s.check("label with an embedded NUL byte -> InvalidArgument or byte-exact", func(ctx context.Context) error {
		lbl := map[string]string{"sk.test/a\x00b": "v\x00w"}
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "nul-label", Labels: lbl})
		if status.Code(err) == codes.InvalidArgument {
			return nil
		}
		if err != nil {
			return fmt.Errorf("Prepare: %v (want InvalidArgument or success)", err)
		}
		info, err := s.sn.Stat(ctx, "nul-label")
		if err != nil {
			return fmt.Errorf("Stat: %v", err)
		}
		rerr := s.sn.Remove(ctx, "nul-label")
		if !reflect.DeepEqual(info.Labels, lbl) {
			return fmt.Errorf("labels stored as %q, sent %q", info.Labels, lbl)
		}
		return rerr
	})
	s.check("a 5 MB request -> ResourceExhausted (gRPC limit), daemon up", func(ctx context.Context) error {
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "huge",
			Labels: map[string]string{"sk.test/huge": strings.Repeat("x", 5<<20)}})
		if c := status.Code(err); c != codes.ResourceExhausted && c != codes.InvalidArgument {
			return fmt.Errorf("got %v, want ResourceExhausted (or InvalidArgument for the label)", err)
		}
		return nil
	})
	s.check("200 labels of 4000 bytes (800 KB) are accepted and come back", func(ctx context.Context) error {
		many := map[string]string{}
		for i := 0; i < 200; i++ {
			many[fmt.Sprintf("sk.test/k%03d", i)] = strings.Repeat(string(rune('a'+i%26)), 4000)
		}
		if _, err := s.sn.Prepare(ctx, "many-labels", "", snapshots.WithLabels(many)); err != nil {
			return fmt.Errorf("Prepare: %v", err)
		}
		info, err := s.sn.Stat(ctx, "many-labels")
		if err != nil {
			return fmt.Errorf("Stat: %v", err)
		}
		if !reflect.DeepEqual(info.Labels, many) {
			return fmt.Errorf("%d labels came back, not the 200 sent", len(info.Labels))
		}
		return s.sn.Remove(ctx, "many-labels")
	})

	s.check("malformed List filters -> InvalidArgument", func(ctx context.Context) error {
		for _, f := range []string{`labels."unterminated`, `name~=(`, `name==a,,`} {
			st, err := s.raw.List(ctx, &snapshotsapi.ListSnapshotsRequest{Snapshotter: sktest.SnapshotterName, Filters: []string{f}})
			for err == nil {
				_, err = st.Recv()
			}
			if e := expectCode(err, codes.InvalidArgument, errdefs.IsInvalidArgument, ""); e != nil {
				return fmt.Errorf("filter %q: %v", f, e)
			}
		}
		return nil
	})
	s.check("a key like a path (../../escape) stays a key: no path outside the root", func(ctx context.Context) error {
		key := "../../sk-escape"
		if _, err := s.sn.Prepare(ctx, key, ""); err != nil {
			return fmt.Errorf("Prepare(%q): %v", key, err)
		}
		defer s.sn.Remove(ctx, key)
		for _, p := range []string{filepath.Join(root, key), filepath.Join(root, "snapshots", key), filepath.Join(*dir, "sk-escape")} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists: the key became a path", p)
			}
		}
		if info, err := s.sn.Stat(ctx, key); err != nil || info.Name != key {
			return fmt.Errorf("Stat(%q): %q, %v", key, info.Name, err)
		}
		return nil
	})

	// --- wrong kinds
	s.check("Commit of a View -> FailedPrecondition", func(ctx context.Context) error {
		_, err := s.raw.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: sktest.SnapshotterName, Name: "view-committed", Key: "base-view"})
		return expectCode(err, codes.FailedPrecondition, errdefs.IsFailedPrecondition, "")
	})
	s.check("Commit of a Committed snapshot -> FailedPrecondition", func(ctx context.Context) error {
		_, err := s.raw.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: sktest.SnapshotterName, Name: "recommitted", Key: "base"})
		return expectCode(err, codes.FailedPrecondition, errdefs.IsFailedPrecondition, "")
	})
	s.check("Remove of a parent -> FailedPrecondition mentioning remove", func(ctx context.Context) error {
		_, err := s.raw.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: sktest.SnapshotterName, Key: "base"})
		return expectCode(err, codes.FailedPrecondition, errdefs.IsFailedPrecondition, "remove")
	})

	// --- unknown methods must answer, not hang (bounded by the deadline)
	for _, m := range []string{svc + "Rename", "/containerd.services.snapshots.v1.Nope/Prepare", "/no.such.Service/Call"} {
		m := m
		s.check("unknown method "+m+" -> Unimplemented", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			start := time.Now()
			var reply []byte
			err := s.conn.Invoke(ctx, m, []byte{}, &reply, grpc.ForceCodec(rawCodec{}))
			if e := expectCode(err, codes.Unimplemented, errdefs.IsNotImplemented, ""); e != nil {
				return fmt.Errorf("%v after %v", e, time.Since(start).Round(time.Millisecond))
			}
			return nil
		})
	}

	// --- the valid operations still work after all that
	s.check("valid Commit, Remove of a leaf and Remove of the view still work", func(ctx context.Context) error {
		if err := s.sn.Commit(ctx, "child-committed", "child"); err != nil {
			return fmt.Errorf("Commit child: %v", err)
		}
		if err := s.sn.Remove(ctx, "base-view"); err != nil {
			return fmt.Errorf("Remove base-view: %v", err)
		}
		delete(s.want, "child")
		delete(s.want, "base-view")
		s.want["child-committed"] = snapshots.Info{Name: "child-committed", Kind: snapshots.KindCommitted, Parent: "base"}
		return nil
	})

	// --- metadata survives a clean restart unchanged
	s.conn.Close()
	if err := s.d.Stop(20 * time.Second); err != nil {
		s.report("SIGTERM stop", err)
	} else {
		s.report("SIGTERM stop (exit 0)", nil)
	}
	d2, err := sktest.Start(*bin, root, sock, logPath)
	if err != nil {
		s.report("restart on the same root", err)
		os.Exit(1)
	}
	s.d = d2
	if err := s.connect(); err != nil {
		s.report("redial", err)
		os.Exit(1)
	}
	s.report("metadata identical after restart", s.healthy())
	s.conn.Close()
	s.report("final SIGTERM stop (exit 0)", s.d.Stop(20*time.Second))

	if s.failed > 0 {
		fmt.Printf("badinput: %d case(s) failed\n", s.failed)
		os.Exit(1)
	}
	fmt.Println("badinput: all cases passed")
}
