// Package sktest starts and stops snapkeepd processes for the Go integration
// programs and dials them with containerd's own client code, so every test
// talks to the daemon exactly the way containerd does (snapshots/proxy over a
// grpc.ClientConn on the unix socket).
package sktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SnapshotterName is what the proxy client puts into every request; snapkeepd
// serves one snapshotter and may ignore it.
const SnapshotterName = "snapkeep"

// Daemon is one snapkeepd process.
type Daemon struct {
	Bin, Root, Socket, LogPath string
	cmd                        *exec.Cmd
	logFile                    *os.File
	done                       chan struct{}
	waitErr                    error
}

// LogLevel is the --log-level every daemon gets (SK_LOG_LEVEL overrides).
func LogLevel() string {
	if l := os.Getenv("SK_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}

// Start runs `bin --root root --socket sock --log-level L`, appending its
// stdout+stderr to logPath, and waits until the socket answers a Stat.
func Start(bin, root, sock, logPath string) (*Daemon, error) {
	if err := os.MkdirAll(root, 0755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0755); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "=== %s start: %s --root %s --socket %s\n", time.Now().UTC().Format(time.RFC3339Nano), bin, root, sock)
	args := append([]string{"--root", root, "--socket", sock, "--log-level", LogLevel()}, isolationArgs(bin, filepath.Dir(sock))...)
	fmt.Fprintf(lf, "=== args: %s\n", strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	// Own process group: a Ctrl-C on the test does not hit the daemon first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	d := &Daemon{Bin: bin, Root: root, Socket: sock, LogPath: logPath, cmd: cmd, logFile: lf, done: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		lf.Close()
		close(d.done)
	}()
	if err := d.waitReady(20 * time.Second); err != nil {
		d.Kill()
		return nil, fmt.Errorf("snapkeepd did not become ready: %w\n%s", err, d.LogTail(30))
	}
	return d, nil
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]string{}
)

// isolationArgs keeps a test daemon off the host's global paths: no system
// config file, and (when the build has one) its control socket next to the
// snapshots socket, so several daemons can run side by side. Flags are only
// passed when `bin --help` lists them.
func isolationArgs(bin, dir string) []string {
	helpMu.Lock()
	help, ok := helpCache[bin]
	if !ok {
		out, _ := exec.Command(bin, "--help").CombinedOutput()
		help = string(out)
		helpCache[bin] = help
	}
	helpMu.Unlock()
	var args []string
	if strings.Contains(help, "--config") {
		args = append(args, "--config=")
	}
	if strings.Contains(help, "--admin-socket") {
		args = append(args, "--admin-socket", filepath.Join(dir, "admin.sock"))
	}
	return args
}

func (d *Daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("exited early: %v", d.waitErr)
		default:
		}
		if _, err := os.Stat(d.Socket); err == nil {
			if last = Ping(d.Socket, 2*time.Second); last == nil {
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// Ping makes one Stat call on a key that does not exist; any answer other than
// a transport failure means the daemon serves.
func Ping(sock string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := Dial(ctx, sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = snapshotsapi.NewSnapshotsClient(conn).Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: SnapshotterName, Key: "sktest-ping/does-not-exist"})
	switch status.Code(err) {
	case codes.NotFound:
		return nil
	case codes.OK:
		return errors.New("Stat of a missing key succeeded")
	default:
		return err
	}
}

// Pid of the running process.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Alive reports whether the process has not exited yet.
func (d *Daemon) Alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to timeout; an exit status other than 0 or a
// timeout (then SIGKILL) is an error.
func (d *Daemon) Stop(timeout time.Duration) error {
	if !d.Alive() {
		return fmt.Errorf("snapkeepd had already exited: %v", d.waitErr)
	}
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.waitErr != nil {
			return fmt.Errorf("snapkeepd exit after SIGTERM: %v\n%s", d.waitErr, d.LogTail(30))
		}
		return nil
	case <-time.After(timeout):
		d.Kill()
		return fmt.Errorf("snapkeepd did not stop within %v of SIGTERM (killed)", time.Since(start).Round(time.Millisecond))
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// LogTail returns the last n lines of the daemon's log.
func (d *Daemon) LogTail(n int) string {
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// Dial connects to a unix socket the way containerd's proxy plugin loader does.
// It does not block: the first call waits for the connection.
func Dial(ctx context.Context, sock string) (*grpc.ClientConn, error) {
	return grpc.DialContext(ctx, "unix://"+sock,
		grpc.WithInsecure(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}),
	)
}

// Snapshotter wraps a connection in containerd's proxy snapshotter.
func Snapshotter(conn *grpc.ClientConn) snapshots.Snapshotter {
	return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), SnapshotterName)
}

// Cleanup calls the Cleanup RPC through the proxy (which implements
// snapshots.Cleaner).
func Cleanup(ctx context.Context, sn snapshots.Snapshotter) error {
	c, ok := sn.(snapshots.Cleaner)
	if !ok {
		return errors.New("proxy snapshotter does not implement snapshots.Cleaner")
	}
	return c.Cleanup(ctx)
}

// ListAll returns every snapshot the daemon knows, by name.
func ListAll(ctx context.Context, sn snapshots.Snapshotter, filters ...string) (map[string]snapshots.Info, error) {
	out := map[string]snapshots.Info{}
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if _, dup := out[info.Name]; dup {
			return fmt.Errorf("List returned %q twice", info.Name)
		}
		out[info.Name] = info
		return nil
	}, filters...)
	return out, err
}

// KillIfAlive is the deferred clean-up of a test that may end early: SIGKILL
// unless the daemon has exited already.
func (d *Daemon) KillIfAlive() {
	if d.Alive() {
		d.Kill()
	}
}

// AfterCleanup calls Cleanup, then lists every snapshot and the entries of
// root/snapshots/: once Cleanup has run, the two must match one to one.
func AfterCleanup(ctx context.Context, sn snapshots.Snapshotter, root string) (map[string]snapshots.Info, []os.DirEntry, error) {
	if err := Cleanup(ctx, sn); err != nil {
		return nil, nil, fmt.Errorf("Cleanup: %w", err)
	}
	all, err := ListAll(ctx, sn)
	if err != nil {
		return nil, nil, fmt.Errorf("List: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, nil, err
	}
	return all, ents, nil
}

// SortedKeys returns the keys of m in order, so that a test walks a map the
// same way every run.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// missingPaths returns the directories a mount list names that do not exist:
// a snapshot whose data directory vanished (say, swept by a concurrent
// Cleanup) would still answer Mounts but fail to mount.
func missingPaths(ms []mount.Mount) []string {
	var paths, missing []string
	for _, m := range ms {
		if m.Type == "bind" || m.Type == "rbind" {
			paths = append(paths, m.Source)
		}
		for _, o := range m.Options {
			switch {
			case strings.HasPrefix(o, "upperdir="), strings.HasPrefix(o, "workdir="):
				paths = append(paths, o[strings.IndexByte(o, '=')+1:])
			case strings.HasPrefix(o, "lowerdir="):
				paths = append(paths, strings.Split(strings.TrimPrefix(o, "lowerdir="), ":")...)
			}
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}

// CheckMounts: a mount list must not be empty (else the error says what),
// and every directory it names must exist.
func CheckMounts(ms []mount.Mount, empty string) error {
	if len(ms) == 0 {
		return errors.New(empty)
	}
	if miss := missingPaths(ms); len(miss) > 0 {
		return fmt.Errorf("mount paths missing on disk: %v", miss)
	}
	return nil
}
