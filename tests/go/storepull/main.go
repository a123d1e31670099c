// Command storepull unpacks an image the way `nerdctl pull` and the CRI
// plugin do, through containerd's pull unpacker (client.Pull with
// WithPullUnpack), which labels each layer's Prepare with
// containerd.io/snapshot.ref=<chainID>: the remote-snapshotter protocol that
// lets a snapshotter supply a layer itself (ALREADY_EXISTS) instead of
// containerd unpacking it. `ctr images import` and `ctr images pull` in
// containerd 1.6 unpack through image.Unpack, which sends no such label.
//
// There is no registry here: the "remote" is the same containerd's content
// store (fill it first with `ctr images import --no-unpack ARCHIVE`).
//
//	storepull -address SOCK -namespace NS -snapshotter snapkeep REF
//
// Prints "unpacked REF" and, per layer, "layer CHAINID new|present" (whether
// the snapshotter supplied the layer or containerd unpacked it is for the
// caller to tell from the snapshotter's side: labels, counters, logs).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// storeResolver resolves image names through the image store and fetches
// blobs from the content store of the same containerd.
type storeResolver struct {
	client *containerd.Client
}

func (r storeResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	img, err := r.client.ImageService().Get(ctx, ref)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	return ref, img.Target, nil
}

func (r storeResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	return storeFetcher{cs: r.client.ContentStore()}, nil
}

func (r storeResolver) Pusher(ctx context.Context, ref string) (remotes.Pusher, error) {
	return nil, fmt.Errorf("storepull: push not supported")
}

type storeFetcher struct {
	cs content.Store
}

type readCloser struct {
	io.Reader
	ra content.ReaderAt
}

func (r readCloser) Close() error { return r.ra.Close() }

func (f storeFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	ra, err := f.cs.ReaderAt(ctx, desc)
	if err != nil {
		return nil, err
	}
	return readCloser{Reader: content.NewReader(ra), ra: ra}, nil
}

// mustNot ends the program (exit 1) on an error, saying in which step.
func mustNot(step string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "storepull: %s: %v\n", step, err)
		os.Exit(1)
	}
}

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd socket")
	ns := flag.String("namespace", "default", "containerd namespace")
	snapshotter := flag.String("snapshotter", "snapkeep", "snapshotter")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: storepull -address SOCK -namespace NS -snapshotter S REF")
		os.Exit(2)
	}
	ref := flag.Arg(0)
	client, err := containerd.New(*address, containerd.WithTimeout(10*time.Second))
	mustNot("connect", err)
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *ns)
	sn := client.SnapshotService(*snapshotter)

	// Which chain ids exist before: to tell supplied from unpacked after.
	img, err := client.ImageService().Get(ctx, ref)
	mustNot("image", err)
	diffIDs, err := containerd.NewImage(client, img).RootFS(ctx)
	mustNot("rootfs", err)
	before := map[string]bool{}
	for i := range diffIDs {
		id := identity.ChainID(diffIDs[:i+1]).String()
		if _, err := sn.Stat(ctx, id); err == nil {
			before[id] = true
		}
	}

	_, err = client.Pull(ctx, ref, containerd.WithResolver(storeResolver{client}), containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(*snapshotter))
	mustNot("pull", err)
	fmt.Println("unpacked", ref)
	var chain []digest.Digest
	for _, d := range diffIDs {
		chain = append(chain, d)
		id := identity.ChainID(chain).String()
		_, err := sn.Stat(ctx, id)
		switch {
		case err != nil:
			fmt.Println("layer", id, "missing:", err)
		case before[id]:
			fmt.Println("layer", id, "present")
		default:
			fmt.Println("layer", id, "new")
		}
	}
}
