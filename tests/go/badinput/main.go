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

const skName = sktest.SnapshotterName

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

// refusal is a call that must fail with code, and with the errdefs class
// containerd maps that code to (classOf), its message containing msg when
// msg is not "".
type refusal struct {
	name string
	code codes.Code
	msg  string
	call func(ctx context.Context) error
}

var classOf = map[codes.Code]func(error) bool{
	codes.InvalidArgument:    errdefs.IsInvalidArgument,
	codes.NotFound:           errdefs.IsNotFound,
	codes.AlreadyExists:      errdefs.IsAlreadyExists,
	codes.FailedPrecondition: errdefs.IsFailedPrecondition,
}

// refuse checks each refusal in turn (each followed by the health check).
func (s *state) refuse(cases []refusal) {
	for _, c := range cases {
		c := c
		s.check(c.name, func(ctx context.Context) error {
			return expectCode(c.call(ctx), c.code, classOf[c.code], c.msg)
		})
	}
}

// rpc makes a refusal's call of one method of the generated client: the
// request as given, the reply dropped.
func rpc[Req, Resp any](method func(context.Context, *Req, ...grpc.CallOption) (Resp, error), req *Req) func(context.Context) error {
	return func(ctx context.Context) error { _, err := method(ctx, req); return err }
}

// rawUnary sends payload as it is (rawCodec) to a unary method.
func (s *state) rawUnary(method string, payload []byte) func(context.Context) error {
	return func(ctx context.Context) error {
		var reply []byte
		return s.conn.Invoke(ctx, svc+method, payload, &reply, grpc.ForceCodec(rawCodec{}))
	}
}

// rawList sends payload as it is to the List stream and reads until it fails.
func (s *state) rawList(payload []byte) func(context.Context) error {
	return func(ctx context.Context) error {
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
	var garbled []refusal
	for _, n := range sktest.SortedKeys(malformed) {
		garbled = append(garbled, refusal{"malformed protobuf " + n + " to Prepare -> InvalidArgument", codes.InvalidArgument, "", s.rawUnary("Prepare", malformed[n])})
	}
	for _, m := range []string{"View", "Mounts", "Commit", "Remove", "Stat", "Update", "Usage", "Cleanup"} {
		garbled = append(garbled, refusal{"malformed protobuf to " + m + " -> InvalidArgument", codes.InvalidArgument, "", s.rawUnary(m, malformed["truncated-length-delimited"])})
	}
	s.refuse(append(garbled, refusal{"malformed protobuf to List (stream) -> InvalidArgument", codes.InvalidArgument, "", s.rawList(malformed["truncated-length-delimited"])}))

	// --- empty keys, missing parents and keys
	s.refuse([]refusal{
		{"Prepare with empty key -> InvalidArgument", codes.InvalidArgument, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: ""})},
		{"View with empty key -> InvalidArgument", codes.InvalidArgument, "", rpc(s.raw.View, &snapshotsapi.ViewSnapshotRequest{Snapshotter: skName, Key: "", Parent: "base"})},
		{"Commit with empty name -> InvalidArgument", codes.InvalidArgument, "", rpc(s.raw.Commit, &snapshotsapi.CommitSnapshotRequest{Snapshotter: skName, Name: "", Key: "child"})},
		{"empty request body to Prepare (empty key) -> InvalidArgument", codes.InvalidArgument, "", s.rawUnary("Prepare", []byte{})},
		{"Prepare with missing parent -> NotFound", codes.NotFound, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "orphan", Parent: "no-such-parent"})},
		{"View with missing parent -> NotFound", codes.NotFound, "", rpc(s.raw.View, &snapshotsapi.ViewSnapshotRequest{Snapshotter: skName, Key: "orphan-view", Parent: "no-such-parent"})},
		{"Prepare with an active parent -> InvalidArgument (as containerd's storage)", codes.InvalidArgument, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "on-active", Parent: "child"})},
		{"Commit of a missing key -> NotFound", codes.NotFound, "", rpc(s.raw.Commit, &snapshotsapi.CommitSnapshotRequest{Snapshotter: skName, Name: "never", Key: "no-such-key"})},
	})
	s.check("Stat/Mounts/Usage/Remove of a missing key -> NotFound", func(ctx context.Context) error {
		k := "no-such-key"
		for _, c := range []struct {
			rpc  string
			call func(context.Context) error
		}{
			{"Stat", rpc(s.raw.Stat, &snapshotsapi.StatSnapshotRequest{Snapshotter: skName, Key: k})},
			{"Mounts", rpc(s.raw.Mounts, &snapshotsapi.MountsRequest{Snapshotter: skName, Key: k})},
			{"Usage", rpc(s.raw.Usage, &snapshotsapi.UsageRequest{Snapshotter: skName, Key: k})},
			{"Remove", rpc(s.raw.Remove, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: skName, Key: k})},
		} {
			if err := expectCode(c.call(ctx), codes.NotFound, errdefs.IsNotFound, ""); err != nil {
				return fmt.Errorf("%s: %v", c.rpc, err)
			}
		}
		return nil
	})

	// --- existing keys, oversized labels (containerd: len(key)+len(value) > 4096)
	big := map[string]string{"sk.test/big": strings.Repeat("v", 4097-len("sk.test/big"))}
	s.refuse([]refusal{
		{"Prepare of an existing key -> AlreadyExists", codes.AlreadyExists, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "base"})},
		{"Prepare with a 4097-byte label pair -> InvalidArgument", codes.InvalidArgument, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "big-label", Labels: big})},
		{"Commit with a 4097-byte label pair -> InvalidArgument, active kept", codes.InvalidArgument, "", rpc(s.raw.Commit, &snapshotsapi.CommitSnapshotRequest{Snapshotter: skName, Name: "big-commit", Key: "child", Labels: big})},
		{"Update with a 4097-byte label pair -> InvalidArgument, labels unchanged", codes.InvalidArgument, "", rpc(s.raw.Update, &snapshotsapi.UpdateSnapshotRequest{Snapshotter: skName, Info: snapshotsapi.Info{Name: "base", Labels: big}})},
		{"Prepare with a 4097-byte label key -> InvalidArgument", codes.InvalidArgument, "", rpc(s.raw.Prepare, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "big-key", Labels: map[string]string{strings.Repeat("k", 4097): ""}})},
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
			_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: key})
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
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "nul-label", Labels: lbl})
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
		_, err := s.raw.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: skName, Key: "huge",
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
			st, err := s.raw.List(ctx, &snapshotsapi.ListSnapshotsRequest{Snapshotter: skName, Filters: []string{f}})
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
	s.refuse([]refusal{
		{"Commit of a View -> FailedPrecondition", codes.FailedPrecondition, "", rpc(s.raw.Commit, &snapshotsapi.CommitSnapshotRequest{Snapshotter: skName, Name: "view-committed", Key: "base-view"})},
		{"Commit of a Committed snapshot -> FailedPrecondition", codes.FailedPrecondition, "", rpc(s.raw.Commit, &snapshotsapi.CommitSnapshotRequest{Snapshotter: skName, Name: "recommitted", Key: "base"})},
		{"Remove of a parent -> FailedPrecondition mentioning remove", codes.FailedPrecondition, "remove", rpc(s.raw.Remove, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: skName, Key: "base"})},
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
