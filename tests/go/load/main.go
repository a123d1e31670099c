// Command load runs N concurrent clients (one gRPC connection each) that issue
// a random mix of all ten Snapshots RPCs against one snapkeepd for a fixed
// time. Each client keeps an exact model of its own snapshots, so every
// answer is checked: a successful call must return what the model says, an
// error is accepted only where the client provoked it on purpose (conflicts,
// removing a parent, ...) and is counted separately. Anything else is an
// unexpected failure. At the end every client removes what it made, Cleanup
// runs, List must be empty and snapshots/ must be empty, and the daemon is
// stopped with SIGTERM (exit status 0 required). Then (-sigterm-busy) it is
// restarted, SIGTERMed again while all clients are busy (exit 0 within 20 s),
// and restarted once more on the same root, which must be consistent.
//
// Prints per-op figures, "figure: ..." totals and "ok"/"not ok" lines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/snapshots"

	"snapkeep-tests/sktest"
)

type snap struct {
	kind     snapshots.Kind
	parent   string
	children int
}

type opStat struct{ calls, expectedErrs, unexpected int }

type client struct {
	id     int
	prefix string
	sn     snapshots.Snapshotter
	rng    *rand.Rand
	snaps  map[string]*snap
	seq    int
	stats  map[string]*opStat
	errs   []string
}

const maxOwn = 40 // keep each client's set (and List replies) small

func (c *client) label() map[string]string {
	return map[string]string{"sk.client": c.prefix}
}

func (c *client) ok(op string) { c.stat(op).calls++ }

func (c *client) stat(op string) *opStat {
	s := c.stats[op]
	if s == nil {
		s = &opStat{}
		c.stats[op] = s
	}
	return s
}

func (c *client) fail(op string, format string, args ...interface{}) {
	s := c.stat(op)
	s.calls++
	s.unexpected++
	if len(c.errs) < 10 {
		c.errs = append(c.errs, fmt.Sprintf("client %d %s: %s", c.id, op, fmt.Sprintf(format, args...)))
	}
}

// expected records an error the client provoked; a different outcome fails.
func (c *client) expected(op string, err error, class func(error) bool, what string) {
	if err != nil && class(err) {
		s := c.stat(op)
		s.calls++
		s.expectedErrs++
		return
	}
	c.fail(op, "want %s, got %v", what, err)
}

func (c *client) pick(filter func(*snap) bool) string {
	var names []string
	for n, s := range c.snaps {
		if filter(s) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[c.rng.Intn(len(names))]
}

func isKind(k snapshots.Kind) func(*snap) bool { return func(s *snap) bool { return s.kind == k } }
func anySnap(*snap) bool                       { return true }
func leaf(s *snap) bool                        { return s.children == 0 }

func (c *client) newName(kind string) string {
	c.seq++
	return fmt.Sprintf("%s/%s-%d key with spaces:and/colons", c.prefix, kind, c.seq)
}

func (c *client) add(name string, kind snapshots.Kind, parent string) {
	c.snaps[name] = &snap{kind: kind, parent: parent}
	if parent != "" {
		c.snaps[parent].children++
	}
}

func (c *client) del(name string) {
	s := c.snaps[name]
	if s.parent != "" {
		c.snaps[s.parent].children--
	}
	delete(c.snaps, name)
}

// dialClients connects n clients, one connection each, named prefix00,
// prefix01, ..., their random choices seeded with seed+i; closeConns closes
// the connections.
func dialClients(ctx context.Context, sock string, n int, prefix string, seed int64) (clients []*client, closeConns func(), err error) {
	var conns []io.Closer
	closeConns = func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := 0; i < n; i++ {
		conn, err := sktest.Dial(ctx, sock)
		if err != nil {
			closeConns()
			return nil, nil, err
		}
		conns = append(conns, conn)
		clients = append(clients, &client{id: i, prefix: fmt.Sprintf("%s%02d", prefix, i), sn: sktest.Snapshotter(conn),
			rng: rand.New(rand.NewSource(seed + int64(i))), snaps: map[string]*snap{}, stats: map[string]*opStat{}})
	}
	return clients, closeConns, nil
}

func (c *client) step(ctx context.Context, shared []string) {
	if len(c.snaps) >= maxOwn {
		c.remove(ctx)
		return
	}
	switch r := c.rng.Intn(100); {
	case r < 14:
		c.prepare(ctx)
	case r < 19:
		c.view(ctx)
	case r < 28:
		c.mounts(ctx)
	case r < 38:
		c.commit(ctx)
	case r < 50:
		c.statOne(ctx)
	case r < 57:
		c.update(ctx)
	case r < 65:
		c.list(ctx)
	case r < 71:
		c.usage(ctx)
	case r < 83:
		c.remove(ctx)
	case r < 84:
		if err := sktest.Cleanup(ctx, c.sn); err != nil {
			c.fail("Cleanup", "%v", err)
		} else {
			c.ok("Cleanup")
		}
	case r < 92:
		c.provoke(ctx)
	default:
		c.sharedKey(ctx, shared[c.rng.Intn(len(shared))])
	}
}

// made records the snapshot a Prepare or View just created, once the call
// has succeeded (err) and its mounts have passed sktest.CheckMounts (mountErr).
func (c *client) made(op, key, parent string, kind snapshots.Kind, err, mountErr error) {
	if err != nil {
		c.fail(op, "%q parent %q: %v", key, parent, err)
	} else if mountErr != nil {
		c.fail(op, "%q: %v", key, mountErr)
	} else {
		c.add(key, kind, parent)
		c.ok(op)
	}
}

// onExisting runs op on one of the client's snapshots that filter accepts
// (when there is none, it makes one with a Prepare instead); check makes the
// call and checks its answer against the model.
func (c *client) onExisting(ctx context.Context, op string, filter func(*snap) bool, check func(key string) error) {
	key := c.pick(filter)
	if key == "" {
		c.prepare(ctx)
	} else if err := check(key); err != nil {
		c.fail(op, "%q: %v", key, err)
	} else {
		c.ok(op)
	}
}

func (c *client) prepare(ctx context.Context) {
	parent := ""
	if c.rng.Intn(3) > 0 {
		parent = c.pick(isKind(snapshots.KindCommitted))
	}
	key := c.newName("a")
	mounts, err := c.sn.Prepare(ctx, key, parent, snapshots.WithLabels(c.label()))
	c.made("Prepare", key, parent, snapshots.KindActive, err, sktest.CheckMounts(mounts, "no mounts"))
}

func (c *client) view(ctx context.Context) {
	if parent := c.pick(isKind(snapshots.KindCommitted)); parent == "" {
		c.prepare(ctx)
	} else {
		key := c.newName("v")
		mounts, err := c.sn.View(ctx, key, parent, snapshots.WithLabels(c.label()))
		c.made("View", key, parent, snapshots.KindView, err, sktest.CheckMounts(mounts, "no mounts"))
	}
}

func (c *client) mounts(ctx context.Context) {
	c.onExisting(ctx, "Mounts", func(s *snap) bool { return s.kind != snapshots.KindCommitted }, func(key string) error {
		m, err := c.sn.Mounts(ctx, key)
		if err == nil {
			err = sktest.CheckMounts(m, "empty")
		}
		return err
	})
}

func (c *client) commit(ctx context.Context) {
	c.onExisting(ctx, "Commit", isKind(snapshots.KindActive), func(key string) error {
		name := c.newName("c")
		if err := c.sn.Commit(ctx, name, key, snapshots.WithLabels(c.label())); err != nil {
			return fmt.Errorf("-> %q: %v", name, err)
		}
		parent := c.snaps[key].parent
		c.del(key)
		c.add(name, snapshots.KindCommitted, parent)
		return nil
	})
}

func (c *client) statOne(ctx context.Context) {
	c.onExisting(ctx, "Stat", anySnap, func(key string) error {
		info, err := c.sn.Stat(ctx, key)
		s := c.snaps[key]
		switch {
		case err != nil:
			return err
		case info.Name != key || info.Kind != s.kind || info.Parent != s.parent || info.Labels["sk.client"] != c.prefix:
			return fmt.Errorf("got name %q kind %v parent %q labels %v, want kind %v parent %q", info.Name, info.Kind, info.Parent, info.Labels, s.kind, s.parent)
		case info.Created.IsZero() || info.Updated.Before(info.Created):
			return fmt.Errorf("timestamps created %v updated %v", info.Created, info.Updated)
		}
		return nil
	})
}

func (c *client) update(ctx context.Context) {
	c.onExisting(ctx, "Update", anySnap, func(key string) error {
		v := fmt.Sprint(c.rng.Int())
		info, err := c.sn.Update(ctx, snapshots.Info{Name: key, Labels: map[string]string{"sk.n": v}}, "labels.sk.n")
		if err == nil && (info.Labels["sk.n"] != v || info.Labels["sk.client"] != c.prefix) {
			err = fmt.Errorf("labels after update %v", info.Labels)
		}
		return err
	})
}

// list checks one of several filter shapes against the client's own model:
// nobody else creates snapshots with this client's label or name prefix.
func (c *client) list(ctx context.Context) {
	own := fmt.Sprintf(`labels."sk.client"==%s`, c.prefix)
	var filters []string
	var match func(name string, s *snap) bool
	switch c.rng.Intn(5) {
	case 0:
		filters = []string{own}
		match = func(string, *snap) bool { return true }
	case 1:
		filters = []string{own + ",kind==committed"}
		match = func(_ string, s *snap) bool { return s.kind == snapshots.KindCommitted }
	case 2: // two filters are ORed
		filters = []string{own + ",kind==active", own + ",kind==view"}
		match = func(_ string, s *snap) bool { return s.kind != snapshots.KindCommitted }
	case 3: // regexp on the name, label presence
		filters = []string{fmt.Sprintf(`name~="^%s/",labels."sk.client"`, c.prefix)}
		match = func(string, *snap) bool { return true }
	case 4: // children of one parent; keys hold spaces, ':' and '/'
		p := c.pick(func(s *snap) bool { return s.children > 0 })
		if p == "" {
			filters = []string{own + ",kind!=committed,kind!=active,kind!=view"}
			match = func(string, *snap) bool { return false }
			break
		}
		filters = []string{fmt.Sprintf(`parent==%q`, p)}
		match = func(_ string, s *snap) bool { return s.parent == p }
	}
	want := map[string]bool{}
	for n, s := range c.snaps {
		if match(n, s) {
			want[n] = true
		}
	}
	got, err := sktest.ListAll(ctx, c.sn, filters...)
	if err != nil {
		c.fail("List", "%q: %v", filters, err)
		return
	}
	var diff []string
	for n := range want {
		if _, ok := got[n]; !ok {
			diff = append(diff, "missing "+n)
		}
	}
	for n := range got {
		if !want[n] {
			diff = append(diff, "extra "+n)
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		c.fail("List", "%q: %s", filters, strings.Join(diff, ", "))
		return
	}
	c.ok("List")
}

func (c *client) usage(ctx context.Context) {
	c.onExisting(ctx, "Usage", func(s *snap) bool { return s.kind != snapshots.KindView }, func(key string) error {
		u, err := c.sn.Usage(ctx, key)
		if err == nil && (u.Size < 0 || u.Inodes < 0) {
			err = fmt.Errorf("%+v", u)
		}
		return err
	})
}

func (c *client) remove(ctx context.Context) {
	key := c.pick(leaf)
	if key == "" {
		return
	}
	if err := c.sn.Remove(ctx, key); err != nil {
		c.fail("Remove", "%q: %v", key, err)
		return
	}
	c.del(key)
	c.ok("Remove")
}

// provoke makes a call that must fail with a specific error.
func (c *client) provoke(ctx context.Context) {
	switch c.rng.Intn(4) {
	case 0:
		key := c.pick(anySnap)
		if key == "" {
			return
		}
		_, err := c.sn.Prepare(ctx, key, "", snapshots.WithLabels(c.label()))
		c.expected("Prepare(existing)", err, errdefs.IsAlreadyExists, "AlreadyExists")
	case 1:
		key := c.pick(func(s *snap) bool { return s.children > 0 })
		if key == "" {
			return
		}
		err := c.sn.Remove(ctx, key)
		c.expected("Remove(parent)", err, errdefs.IsFailedPrecondition, "FailedPrecondition")
	case 2:
		_, err := c.sn.Stat(ctx, c.prefix+"/never-created")
		c.expected("Stat(missing)", err, errdefs.IsNotFound, "NotFound")
	case 3:
		key := c.pick(isKind(snapshots.KindView))
		if key == "" {
			return
		}
		err := c.sn.Commit(ctx, c.newName("x"), key)
		c.expected("Commit(view)", err, errdefs.IsFailedPrecondition, "FailedPrecondition")
	}
}

// sharedKey: all clients race on a few shared keys. Prepare wins (then the
// winner removes it again) or loses with AlreadyExists.
func (c *client) sharedKey(ctx context.Context, key string) {
	_, err := c.sn.Prepare(ctx, key, "", snapshots.WithLabels(map[string]string{"sk.client": "shared"}))
	if err != nil {
		c.expected("Prepare(shared race)", err, errdefs.IsAlreadyExists, "AlreadyExists")
		return
	}
	c.ok("Prepare(shared race)")
	if err := c.sn.Remove(ctx, key); err != nil {
		c.fail("Remove(shared)", "%q: %v", key, err)
		return
	}
	c.ok("Remove(shared)")
}

func (c *client) teardown(ctx context.Context) error {
	for len(c.snaps) > 0 {
		key := c.pick(leaf)
		if key == "" {
			return errors.New("model has a cycle")
		}
		if err := c.sn.Remove(ctx, key); err != nil {
			return fmt.Errorf("Remove %q: %w", key, err)
		}
		c.del(key)
	}
	return nil
}

func main() {
	bin := flag.String("snapkeepd", os.Getenv("SNAPKEEPD_ASAN"), "snapkeepd binary")
	dir := flag.String("dir", "", "work directory")
	nclients := flag.Int("clients", 16, "concurrent clients (one connection each)")
	duration := flag.Duration("duration", 30*time.Second, "how long to run")
	raceFor := flag.Duration("remove-vs-cleanup", 5*time.Second, "then: 4 clients Prepare+fill+Remove while 4 call Cleanup, this long (0: skip)")
	busyStop := flag.Duration("sigterm-busy", 3*time.Second, "then: restart, run the clients this long and SIGTERM the daemon under them (0: skip)")
	flag.Parse()
	if *bin == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: load -snapkeepd BIN -dir DIR [-clients 16] [-duration 30s]")
		os.Exit(2)
	}
	root := filepath.Join(*dir, "root")
	d, err := sktest.Start(*bin, root, filepath.Join(*dir, "snapkeep.sock"), filepath.Join(*dir, "snapkeepd.log"))
	if err != nil {
		fmt.Printf("not ok start: %v\n", err)
		os.Exit(1)
	}
	defer d.KillIfAlive()
	failed := 0
	report := func(name string, err error) {
		if err != nil {
			failed++
			fmt.Printf("not ok %s: %v\n", name, err)
		} else {
			fmt.Printf("ok %s\n", name)
		}
	}

	ctx := context.Background()
	seed := time.Now().UnixNano()
	fmt.Printf("load: %d clients for %v, seed %d, daemon %s\n", *nclients, *duration, seed, *bin)
	shared := []string{"shared/k0", "shared/k1", "shared/k2"}
	clients, closeConns, err := dialClients(ctx, d.Socket, *nclients, "c", seed)
	if err != nil {
		report("dial", err)
		os.Exit(1)
	}
	defer closeConns()
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*duration)
	for _, c := range clients {
		c := c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && d.Alive() {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c.step(cctx, shared)
				cancel()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	total := map[string]*opStat{}
	var calls, expectedErrs, unexpected int
	var errs []string
	for _, c := range clients {
		for op, s := range c.stats {
			t := total[op]
			if t == nil {
				t = &opStat{}
				total[op] = t
			}
			t.calls += s.calls
			t.expectedErrs += s.expectedErrs
			t.unexpected += s.unexpected
			calls += s.calls
			expectedErrs += s.expectedErrs
			unexpected += s.unexpected
		}
		errs = append(errs, c.errs...)
	}
	for _, op := range sktest.SortedKeys(total) {
		t := total[op]
		fmt.Printf("  %-22s calls=%-7d expected_errors=%-6d unexpected=%d\n", op, t.calls, t.expectedErrs, t.unexpected)
	}
	fmt.Printf("figure: load clients=%d seconds=%.1f calls=%d calls_per_s=%.0f expected_errors=%d unexpected=%d\n",
		*nclients, elapsed.Seconds(), calls, float64(calls)/elapsed.Seconds(), expectedErrs, unexpected)
	for _, e := range errs {
		fmt.Println("  unexpected:", e)
	}
	report("daemon alive after the load", func() error {
		if !d.Alive() {
			return fmt.Errorf("snapkeepd exited\n%s", d.LogTail(40))
		}
		return nil
	}())
	if unexpected > 0 {
		report("no failed call", fmt.Errorf("%d unexpected errors", unexpected))
	} else {
		report(fmt.Sprintf("no failed call (%d calls, %d provoked errors as expected)", calls, expectedErrs), nil)
	}
	if calls < 1000 {
		report("load volume", fmt.Errorf("only %d calls in %v", calls, elapsed))
	}
	for _, op := range []string{"Prepare", "View", "Mounts", "Commit", "Stat", "Update", "List", "Usage", "Remove", "Cleanup"} {
		if total[op] == nil || total[op].calls-total[op].unexpected == 0 {
			report("every RPC exercised", fmt.Errorf("%s never succeeded", op))
		}
	}

	if d.Alive() {
		qctx, qcancel := context.WithTimeout(ctx, 60*time.Second)
		report("quiescent: after Cleanup, dirs under snapshots/ == snapshots List shows", func() error {
			all, ents, err := sktest.AfterCleanup(qctx, clients[0].sn, root)
			if err != nil {
				return err
			}
			want := 0
			for _, c := range clients {
				want += len(c.snaps)
			}
			if len(all) != want || len(ents) != want {
				return fmt.Errorf("clients hold %d snapshots, List shows %d, %d dirs under snapshots/", want, len(all), len(ents))
			}
			return nil
		}())
		qcancel()
		tctx, cancel := context.WithTimeout(ctx, 120*time.Second)
		var terr error
		for _, c := range clients {
			if terr = c.teardown(tctx); terr != nil {
				break
			}
		}
		if terr == nil {
			terr = sktest.Cleanup(tctx, clients[0].sn)
		}
		if terr == nil {
			var left map[string]snapshots.Info
			if left, terr = sktest.ListAll(tctx, clients[0].sn); terr == nil && len(left) != 0 {
				terr = fmt.Errorf("List shows %d snapshots after every client removed its own", len(left))
			}
		}
		if terr == nil {
			if ents, err := os.ReadDir(filepath.Join(root, "snapshots")); err != nil {
				terr = err
			} else if len(ents) != 0 {
				terr = fmt.Errorf("%d entries left under snapshots/ after Cleanup", len(ents))
			}
		}
		cancel()
		report("teardown: remove all, Cleanup, List empty, snapshots/ empty", terr)
		report("SIGTERM stop (exit 0)", d.Stop(60*time.Second))
	}
	if *raceFor > 0 && failed == 0 {
		report("Remove racing Cleanup: no failed call", removeVsCleanup(*bin, root, d.Socket, d.LogPath, *raceFor))
	}
	if *busyStop > 0 && failed == 0 {
		report(fmt.Sprintf("SIGTERM while %d clients are busy: clean exit 0 within 20 s, then the root reopens consistent", *nclients),
			stopWhileBusy(*bin, root, d.Socket, d.LogPath, *nclients, *busyStop))
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// stopWhileBusy restarts the daemon on root, lets the clients run for a while
// and sends SIGTERM while calls are in flight. The daemon must exit 0 within
// 20 s; errors the clients see from then on are expected. Restarted once more,
// it must serve a consistent root: Cleanup leaves as many directories as List
// shows snapshots, and every client's snapshots can be removed leaf first.
func stopWhileBusy(bin, root, sock, logPath string, n int, busy time.Duration) error {
	d, err := sktest.Start(bin, root, sock, logPath)
	if err != nil {
		return err
	}
	defer d.KillIfAlive()
	ctx := context.Background()
	clients, closeConns, err := dialClients(ctx, sock, n, "b", 0)
	if err != nil {
		return err
	}
	defer closeConns()
	var stopping int32
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, c := range clients {
		c := c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadInt32(&stopping) == 0 {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c.step(cctx, []string{"shared/b0"})
				cancel()
			}
			// Not counted: around a SIGTERM any call may be cut off (CANCELLED,
			// UNAVAILABLE). Shown for information only.
			mu.Lock()
			if len(c.errs) > 0 && len(errs) == 0 {
				errs = append(errs, c.errs[0])
			}
			mu.Unlock()
		}()
	}
	time.Sleep(busy)
	start := time.Now()
	stopErr := d.Stop(20 * time.Second)
	took := time.Since(start)
	atomic.StoreInt32(&stopping, 1)
	wg.Wait()
	if stopErr != nil {
		return stopErr
	}
	fmt.Printf("  stopped %v after SIGTERM under load\n", took.Round(time.Millisecond))

	d, err = sktest.Start(bin, root, sock, logPath)
	if err != nil {
		return fmt.Errorf("restart after the busy stop: %w", err)
	}
	defer d.KillIfAlive()
	conn, err := sktest.Dial(ctx, sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	sn := sktest.Snapshotter(conn)
	cctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	all, ents, err := sktest.AfterCleanup(cctx, sn, root)
	if err != nil {
		return fmt.Errorf("after restart: %w", err)
	}
	if len(ents) != len(all) {
		return fmt.Errorf("after restart + Cleanup: %d dirs under snapshots/, List shows %d", len(ents), len(all))
	}
	// Remove everything leaf first: parents must be consistent with children.
	for len(all) > 0 {
		parents := map[string]bool{}
		for _, info := range all {
			if info.Parent != "" {
				parents[info.Parent] = true
			}
		}
		progress := false
		for name := range all {
			if parents[name] {
				continue
			}
			if err := sn.Remove(cctx, name); err != nil {
				return fmt.Errorf("Remove %q after restart: %w", name, err)
			}
			delete(all, name)
			progress = true
		}
		if !progress {
			return fmt.Errorf("%d snapshots left whose parent links form a cycle or point at missing snapshots", len(all))
		}
	}
	if err := sktest.Cleanup(cctx, sn); err != nil {
		return err
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "snapshots")); len(ents) != 0 {
		return fmt.Errorf("%d dirs left after removing everything and Cleanup", len(ents))
	}
	if len(errs) > 0 {
		fmt.Println("  (client error seen around the SIGTERM, not counted:", errs[0], ")")
	}
	return d.Stop(20 * time.Second)
}

// removeVsCleanup runs the one pairing that the random mix rarely lines up:
// Remove of snapshots with some files in them while other clients call
// Cleanup back to back. Both delete directories; neither may fail.
func removeVsCleanup(bin, root, sock, logPath string, dur time.Duration) error {
	d, err := sktest.Start(bin, root, sock, logPath)
	if err != nil {
		return err
	}
	defer d.KillIfAlive()
	ctx := context.Background()
	end := time.Now().Add(dur)
	var mu sync.Mutex
	var firstErr error
	var nRemove, nCleanup int64
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		conn, err := sktest.Dial(ctx, sock)
		if err != nil {
			return err
		}
		defer conn.Close()
		sn := sktest.Snapshotter(conn)
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if g%2 == 0 {
					if err := sktest.Cleanup(cctx, sn); err != nil {
						fail(fmt.Errorf("Cleanup: %w", err))
					}
					atomic.AddInt64(&nCleanup, 1)
					cancel()
					time.Sleep(2 * time.Millisecond)
					continue
				}
				key := fmt.Sprintf("race/%d/%d", g, i)
				ms, err := sn.Prepare(cctx, key, "")
				if err != nil {
					fail(fmt.Errorf("Prepare %q: %w", key, err))
					cancel()
					return
				}
				if len(ms) == 1 && ms[0].Type == "bind" {
					for f := 0; f < 30; f++ {
						_ = os.WriteFile(filepath.Join(ms[0].Source, fmt.Sprint(f)), []byte("x"), 0644)
					}
				}
				if err := sn.Remove(cctx, key); err != nil {
					fail(fmt.Errorf("Remove %q: %w", key, err))
				}
				atomic.AddInt64(&nRemove, 1)
				cancel()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("  remove-vs-cleanup: %d Remove, %d Cleanup in %v\n", nRemove, nCleanup, dur)
	if stopErr := d.Stop(20 * time.Second); firstErr == nil {
		firstErr = stopErr
	}
	return firstErr
}
