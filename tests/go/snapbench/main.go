// Command snapbench measures the latency of a Prepare+Commit+Remove loop driven
// through containerd (not the snapshotter's socket directly), so the figure
// includes containerd's metadata layer exactly as a real client sees it.
//
//	snapbench -address /run/containerd/containerd.sock -snapshotter snapkeep -namespace bench -n 500 [-parent KEY]
//
// Prints one line: "median_us=N p90_us=N p99_us=N" (per loop, microseconds).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
)

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd socket")
	snapshotter := flag.String("snapshotter", "overlayfs", "snapshotter name as containerd knows it")
	namespace := flag.String("namespace", "snapbench", "containerd namespace")
	n := flag.Int("n", 200, "measured loops")
	warmup := flag.Int("warmup", 20, "loops before measuring")
	parent := flag.String("parent", "", "committed snapshot (in -namespace) every Prepare uses as parent, e.g. an image's top layer chain ID; default none")
	flag.Parse()

	client, err := containerd.New(*address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapbench: connect:", err)
		os.Exit(1)
	}
	defer client.Close()
	nsCtx := namespaces.WithNamespace(context.Background(), *namespace)
	// A lease keeps containerd's garbage collector off the snapshots between
	// Commit and Remove, as during an image unpack.
	ctx, done, err := client.WithLease(nsCtx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapbench: lease:", err)
		os.Exit(1)
	}
	defer done(nsCtx)
	sn := client.SnapshotService(*snapshotter)
	run := fmt.Sprintf("snapbench-%d-%d", os.Getpid(), time.Now().UnixNano())

	lat := make([]time.Duration, 0, *n)
	for i := 0; i < *warmup+*n; i++ {
		key := fmt.Sprintf("%s-active-%d", run, i)
		name := fmt.Sprintf("%s-%d", run, i)
		start := time.Now()
		if _, err := sn.Prepare(ctx, key, *parent); err != nil {
			fmt.Fprintln(os.Stderr, "snapbench: Prepare:", err)
			done(nsCtx)
			os.Exit(1)
		}
		if err := sn.Commit(ctx, name, key); err != nil {
			fmt.Fprintln(os.Stderr, "snapbench: Commit:", err)
			done(nsCtx)
			os.Exit(1)
		}
		if err := sn.Remove(ctx, name); err != nil {
			fmt.Fprintln(os.Stderr, "snapbench: Remove:", err)
			done(nsCtx)
			os.Exit(1)
		}
		if i >= *warmup {
			lat = append(lat, time.Since(start))
		}
	}
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "snapbench: -n must be > 0")
		os.Exit(2)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) int64 {
		i := int(p*float64(len(lat)-1) + 0.5)
		return lat[i].Microseconds()
	}
	fmt.Printf("median_us=%d p90_us=%d p99_us=%d\n", pct(0.5), pct(0.9), pct(0.99))
}
