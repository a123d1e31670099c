// Package conformance runs containerd's own snapshotter test suite
// (snapshots/testsuite, from Debian's golang-github-containerd-containerd-dev)
// against snapkeepd through containerd's snapshots/proxy client. Every case
// gets a fresh snapkeepd process on a fresh root, exactly as the suite's
// constructor contract asks.
//
// Environment: SNAPKEEPD (binary, required), SK_LOG_DIR (daemon logs, one
// per case; default: inside the case's temp dir, deleted with it).
package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/testsuite"

	"snapkeep-tests/sktest"
)

var started int32

func TestSnapkeep(t *testing.T) {
	bin := os.Getenv("SNAPKEEPD")
	if bin == "" {
		t.Skip("SNAPKEEPD not set")
	}
	if os.Getuid() != 0 {
		t.Skip("the suite mounts snapshots: needs root")
	}
	logDir := os.Getenv("SK_LOG_DIR")
	testsuite.SnapshotterSuite(t, "snapkeep", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		n := atomic.AddInt32(&started, 1)
		// The suite hands us <tmp>/root; its sibling <tmp>/work is the play area.
		logPath := filepath.Join(filepath.Dir(root), "snapkeepd.log")
		if logDir != "" {
			logPath = filepath.Join(logDir, fmt.Sprintf("case-%02d-%s.log", n, filepath.Base(filepath.Dir(root))))
		}
		d, err := sktest.Start(bin, root, filepath.Join(root, "snapkeep.sock"), logPath)
		if err != nil {
			return nil, nil, err
		}
		conn, err := sktest.Dial(ctx, d.Socket)
		if err != nil {
			d.Kill()
			return nil, nil, err
		}
		closed := false
		closeFn := func() error {
			if closed {
				return nil
			}
			closed = true
			conn.Close()
			if err := d.Stop(20 * time.Second); err != nil {
				return fmt.Errorf("%w (log %s)", err, d.LogPath)
			}
			return nil
		}
		return sktest.Snapshotter(conn), closeFn, nil
	})
}
