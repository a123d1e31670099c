// Command restart checks snapkeepd's crash safety. For several rounds two
// clients drive a stream of Prepare / write / Commit calls (the second one
// also removes every third snapshot and calls Cleanup now and then); snapkeepd
// is killed with SIGKILL at a random moment and restarted on the same root.
// Then:
//   - every snapshot whose Commit was acknowledged exists, is Committed, has
//     its parent, and mounts (through a View) with the content written into
//     it and into every ancestor;
//   - an in-flight Commit left exactly one of the active key and the
//     committed name, and a committed one is intact;
//   - an acknowledged Remove stays removed; an in-flight one left the
//     snapshot gone or intact;
//   - after the Cleanup RPC the directories under <root>/snapshots/ are
//     exactly as many as the snapshots List shows, all with numeric names.
//
// Prints "ok ..." / "not ok ..." lines; exit 1 on any failure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"

	"snapkeep-tests/sktest"
)

type committed struct {
	name, parent string
	content      []byte // written as /data/<name>; nil for the no-write stream
}

type model struct {
	mu       sync.Mutex
	acked    map[string]committed // Commit answered OK
	inflight map[string]committed // Commit sent, no answer (daemon killed)
	removed  map[string]bool      // Remove answered OK: must stay gone
	removing map[string]committed // Remove sent, no answer
}

func (m *model) ack(c committed) {
	m.mu.Lock()
	m.acked[c.name] = c
	delete(m.inflight, c.name)
	m.mu.Unlock()
}

func (m *model) removeSent(c committed) {
	m.mu.Lock()
	delete(m.acked, c.name)
	m.removing[c.name] = c
	m.mu.Unlock()
}

func (m *model) removeAcked(name string) {
	m.mu.Lock()
	delete(m.removing, name)
	m.removed[name] = true
	m.mu.Unlock()
}

func (m *model) send(c committed) {
	m.mu.Lock()
	m.inflight[c.name] = c
	m.mu.Unlock()
}

var failed int

func report(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("not ok %s: %v\n", name, err)
	} else {
		fmt.Printf("ok %s\n", name)
	}
}

// writeInto mounts an active snapshot's mounts, writes one file, unmounts.
func writeInto(mounts []mount.Mount, dir, file string, content []byte) error {
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	werr := func() error {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "data", file), content, 0644)
	}()
	if err := mount.UnmountAll(dir, 0); err != nil && werr == nil {
		werr = fmt.Errorf("umount: %w", err)
	}
	return werr
}

// stream runs Prepare(+write)+Commit until an RPC fails (daemon killed) or
// stop closes. Odd snapshots chain onto the previous committed one.
func stream(ctx context.Context, sn snapshots.Snapshotter, m *model, prefix string, write bool, scratch string, stop <-chan struct{}, count *int64) error {
	parent := ""
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		name := fmt.Sprintf("%s-%d", prefix, i)
		key := name + "-active"
		p := parent
		if i%4 == 0 {
			p = "" // start a new chain now and then
		}
		mounts, err := sn.Prepare(ctx, key, p, snapshots.WithLabels(map[string]string{"sk.test/stream": prefix}))
		if err != nil {
			return err
		}
		c := committed{name: name, parent: p}
		if write {
			c.content = []byte(fmt.Sprintf("content of %s %d\n", name, rand.Int63()))
			if err := writeInto(mounts, filepath.Join(scratch, "mnt-"+prefix), name, c.content); err != nil {
				return fmt.Errorf("write into %s: %w", key, err)
			}
		}
		if !write && i%10 == 9 {
			// Sweeps in the stream too, so a kill may land in a Cleanup.
			if err := sktest.Cleanup(ctx, sn); err != nil {
				return err
			}
		}
		m.send(c)
		if err := sn.Commit(ctx, name, key); err != nil {
			return err
		}
		m.ack(c)
		atomic.AddInt64(count, 1)
		if !write && i%3 == 2 {
			// Remove the leaf just committed: a kill may land in a Remove too.
			m.removeSent(c)
			if err := sn.Remove(ctx, name); err != nil {
				return err
			}
			m.removeAcked(name)
			continue // the next one chains onto the previous parent again
		}
		parent = name
	}
}

// verifySnapshot: Committed, right parent, and a View mounts with the data of
// the whole chain.
func verifySnapshot(ctx context.Context, sn snapshots.Snapshotter, all map[string]committed, c committed, scratch string) error {
	info, err := sn.Stat(ctx, c.name)
	if err != nil {
		return fmt.Errorf("Stat %s: %w", c.name, err)
	}
	if info.Kind != snapshots.KindCommitted || info.Parent != c.parent {
		return fmt.Errorf("%s is %v with parent %q, want Committed with parent %q", c.name, info.Kind, info.Parent, c.parent)
	}
	vkey := "verify-" + c.name
	mounts, err := sn.View(ctx, vkey, c.name)
	if err != nil {
		return fmt.Errorf("View %s: %w", c.name, err)
	}
	defer sn.Remove(ctx, vkey)
	dir := filepath.Join(scratch, "verify")
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount View of %s (%v): %w", c.name, mounts, err)
	}
	defer mount.UnmountAll(dir, 0)
	for cur, ok := c, true; ok; cur, ok = all[cur.parent] {
		if cur.content == nil {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, "data", cur.name))
		if err != nil {
			return fmt.Errorf("View of %s: %w", c.name, err)
		}
		if !bytes.Equal(got, cur.content) {
			return fmt.Errorf("View of %s: data/%s = %q, want %q", c.name, cur.name, got, cur.content)
		}
		if cur.parent == "" {
			break
		}
	}
	return nil
}

var numeric = regexp.MustCompile(`^[0-9]+$`)

func checkDirs(ctx context.Context, sn snapshots.Snapshotter, root string) error {
	known, ents, err := sktest.AfterCleanup(ctx, sn, root)
	if err != nil {
		return err
	}
	var odd []string
	for _, e := range ents {
		if !numeric.MatchString(e.Name()) {
			odd = append(odd, e.Name())
		}
	}
	if len(odd) > 0 {
		return fmt.Errorf("non-id entries under snapshots/ after Cleanup: %v", odd)
	}
	if len(ents) != len(known) {
		return fmt.Errorf("%d directories under snapshots/ but List shows %d snapshots", len(ents), len(known))
	}
	return nil
}

func main() {
	bin := flag.String("snapkeepd", os.Getenv("SNAPKEEPD"), "snapkeepd binary")
	dir := flag.String("dir", "", "work directory")
	rounds := flag.Int("rounds", 3, "kill -9 rounds")
	warm := flag.Int64("warm", 5, "commits acknowledged in a round before the kill timer starts")
	maxDelay := flag.Duration("max-delay", 2*time.Second, "kill at a random moment up to this long after the warm-up")
	checkOnly := flag.String("check-dirs", "", "only run Cleanup on this socket and compare snapshots/ of -dir (the root) with List; exit 1 on mismatch")
	flag.Parse()
	if *checkOnly != "" {
		os.Exit(checkDirsOnly(*checkOnly, *dir))
	}
	if *bin == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: restart -snapkeepd BIN -dir DIR [-rounds N]")
		os.Exit(2)
	}
	seed := time.Now().UnixNano()
	rand.Seed(seed)
	fmt.Printf("restart: seed %d\n", seed)
	root := filepath.Join(*dir, "root")
	sock := filepath.Join(*dir, "snapkeep.sock")
	logPath := filepath.Join(*dir, "snapkeepd.log")
	scratch := filepath.Join(*dir, "scratch")
	ctx := context.Background()
	m := &model{acked: map[string]committed{}, inflight: map[string]committed{},
		removed: map[string]bool{}, removing: map[string]committed{}}

	d, err := sktest.Start(*bin, root, sock, logPath)
	if err != nil {
		report("start", err)
		os.Exit(1)
	}
	defer func() { d.KillIfAlive() }() // d: the daemon of the last round
	for r := 1; r <= *rounds; r++ {
		conn, err := sktest.Dial(ctx, sock)
		if err != nil {
			report("dial", err)
			os.Exit(1)
		}
		sn := sktest.Snapshotter(conn)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var counts [2]int64
		var errs [2]error
		for i, write := range []bool{true, false} {
			i, write := i, write
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = stream(ctx, sn, m, fmt.Sprintf("r%d-w%v", r, write), write, scratch, stop, &counts[i])
			}()
		}
		// Wait for the streams to be under way (a slow, shared machine may
		// need a while for the first mounts), then kill at a random moment.
		t0 := time.Now()
		for atomic.LoadInt64(&counts[0])+atomic.LoadInt64(&counts[1]) < *warm && time.Since(t0) < 60*time.Second {
			time.Sleep(5 * time.Millisecond)
		}
		delay := time.Duration(rand.Int63n(int64(*maxDelay)))
		time.Sleep(delay)
		delay = time.Since(t0)
		d.Kill()
		close(stop)
		wg.Wait()
		conn.Close()
		// The streams must have stopped because of the kill, not on their own.
		for i, e := range errs {
			if e != nil && !isTransport(e) {
				report(fmt.Sprintf("round %d stream %d before the kill", r, i), e)
			}
		}
		m.mu.Lock()
		fmt.Printf("round %d: killed after %v; %d+%d commits acknowledged this round, %d in flight\n", r, delay.Round(time.Millisecond), counts[0], counts[1], len(m.inflight))
		m.mu.Unlock()
		if counts[0]+counts[1] == 0 {
			report(fmt.Sprintf("round %d made progress before the kill", r), errors.New("no Commit acknowledged"))
		}

		d, err = sktest.Start(*bin, root, sock, logPath)
		if err != nil {
			report(fmt.Sprintf("round %d restart on the same root", r), err)
			os.Exit(1)
		}
		report(fmt.Sprintf("round %d restart on the same root", r), nil)
		conn, err = sktest.Dial(ctx, sock)
		if err != nil {
			report("dial", err)
			os.Exit(1)
		}
		sn = sktest.Snapshotter(conn)

		var bad []string
		m.mu.Lock()
		names := sktest.SortedKeys(m.acked)
		for _, n := range names {
			if err := verifySnapshot(ctx, sn, m.acked, m.acked[n], scratch); err != nil {
				bad = append(bad, err.Error())
			}
		}
		var inflightErr error
		for n, c := range m.inflight {
			// Commit is one transaction: exactly one of the active key and
			// the committed name may exist afterwards.
			ainfo, aerr := sn.Stat(ctx, n+"-active")
			if _, err := sn.Stat(ctx, n); errdefs.IsNotFound(err) {
				if aerr != nil || ainfo.Kind != snapshots.KindActive {
					inflightErr = fmt.Errorf("in-flight commit %s did not happen, but its active is gone or changed (%v, %v)", n, ainfo.Kind, aerr)
				}
				continue
			} else if err == nil && !errdefs.IsNotFound(aerr) {
				inflightErr = fmt.Errorf("in-flight commit %s happened, but its active key still answers Stat (%v)", n, aerr)
				continue
			} else if err != nil {
				inflightErr = fmt.Errorf("Stat of in-flight commit %s: %w", n, err)
				continue
			}
			all := map[string]committed{}
			for k, v := range m.acked {
				all[k] = v
			}
			if err := verifySnapshot(ctx, sn, all, c, scratch); err != nil {
				inflightErr = fmt.Errorf("in-flight commit %s exists but is not intact: %w", n, err)
			} else {
				m.acked[n] = c // it made it: from now on it must stay
			}
		}
		m.inflight = map[string]committed{}
		var removeErr error
		for n := range m.removed {
			if _, err := sn.Stat(ctx, n); !errdefs.IsNotFound(err) {
				removeErr = fmt.Errorf("%s was removed (acknowledged) but Stat answers %v", n, err)
			}
		}
		for n, c := range m.removing {
			if _, err := sn.Stat(ctx, n); errdefs.IsNotFound(err) {
				m.removed[n] = true
			} else if err != nil {
				removeErr = fmt.Errorf("Stat of %s (in-flight Remove): %w", n, err)
			} else if err := verifySnapshot(ctx, sn, m.acked, c, scratch); err != nil {
				removeErr = fmt.Errorf("in-flight Remove of %s: still there but not intact: %w", n, err)
			} else {
				m.acked[n] = c
			}
		}
		nremoved, nremoving := len(m.removed), len(m.removing)
		m.removing = map[string]committed{}
		m.mu.Unlock()
		if len(bad) > 0 {
			report(fmt.Sprintf("round %d: all %d acknowledged commits intact and mountable", r, len(names)), fmt.Errorf("%d bad, first: %s", len(bad), bad[0]))
		} else {
			report(fmt.Sprintf("round %d: all %d acknowledged commits intact and mountable", r, len(names)), nil)
		}
		report(fmt.Sprintf("round %d: in-flight commit absent or intact", r), inflightErr)
		report(fmt.Sprintf("round %d: %d removed snapshots stay gone, %d in-flight Remove gone or intact", r, nremoved, nremoving), removeErr)
		report(fmt.Sprintf("round %d: after Cleanup, dirs under snapshots/ == snapshots known", r), checkDirs(ctx, sn, root))
		conn.Close()
	}
	report("final SIGTERM stop (exit 0)", d.Stop(20*time.Second))
	if failed > 0 {
		fmt.Printf("restart: %d check(s) failed\n", failed)
		os.Exit(1)
	}
}

func checkDirsOnly(sock, root string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := sktest.Dial(ctx, sock)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer conn.Close()
	if err := checkDirs(ctx, sktest.Snapshotter(conn), root); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

func isTransport(err error) bool {
	// After SIGKILL the proxy reports Unavailable (errdefs maps it to
	// ErrUnavailable) or a canceled/EOF transport error.
	s := err.Error()
	for _, p := range []string{"unavailable", "Unavailable", "transport", "connection", "EOF"} {
		if bytes.Contains([]byte(s), []byte(p)) {
			return true
		}
	}
	return false
}
