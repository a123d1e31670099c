// Command skprepare sends one Prepare with labels straight to snapkeepd's
// socket, the way a containerd (any of several sharing one snapkeepd) does.
// containerd itself holds its metadata write transaction across a backend
// Prepare, so two restores through one containerd never overlap at the
// snapshotter; tests use this to put several in flight at once.
//
//	skprepare -socket SOCK -key KEY [-parent KEY] [-label K=V]...
//	skprepare -socket SOCK -update -key KEY [-label K=V]...
//
// -update sends an Update without field paths instead: replace every label
// (what containerd forwards when its client gives no paths).
// Prints "prepared KEY in N ms" (or the labels after the update); on error
// prints the error (with its gRPC code) and exits 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/snapshots"
	"google.golang.org/grpc/status"

	"snapkeep-tests/sktest"
)

type labelFlag map[string]string

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want K=V, got %q", s)
	}
	l[k] = v
	return nil
}

func main() {
	sock := flag.String("socket", "", "snapkeepd's socket")
	key := flag.String("key", "", "key to prepare")
	parent := flag.String("parent", "", "parent key")
	update := flag.Bool("update", false, "Update (replace all labels) instead of Prepare")
	labels := labelFlag{}
	flag.Var(labels, "label", "K=V (repeatable)")
	flag.Parse()
	if *sock == "" || *key == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	conn, err := sktest.Dial(ctx, *sock)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	sn := sktest.Snapshotter(conn)
	if *update {
		info, err := sn.Update(ctx, snapshots.Info{Name: *key, Labels: labels})
		if err != nil {
			fmt.Printf("update %s: %v (code %s)\n", *key, err, status.Code(err))
			os.Exit(1)
		}
		fmt.Printf("updated %s: %v\n", *key, info.Labels)
		return
	}
	t0 := time.Now()
	if _, err := sn.Prepare(ctx, *key, *parent, snapshots.WithLabels(labels)); err != nil {
		fmt.Printf("prepare %s: %v (code %s)\n", *key, err, status.Code(err))
		os.Exit(1)
	}
	fmt.Printf("prepared %s in %d ms\n", *key, time.Since(t0).Milliseconds())
}
