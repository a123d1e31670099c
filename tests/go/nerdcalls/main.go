// nerdcalls: the containerd client calls nerdctl makes for `nerdctl pull`,
// `nerdctl run` and `nerdctl commit`, against a snapshotter of choice (nerdctl
// is not packaged in Debian 12; its calls are containerd's Go client, which
// is). For tests/integration/test-nerdctl-calls.sh, which runs it once with
// snapkeep and once with the built-in overlayfs and compares the results.
//
//		nerdcalls -address SOCK -namespace NS -snapshotter SN -ref REF -script SH
//
//	 1. pull: client.Pull with unpack into SN and a plain-HTTP resolver, and
//	    without the remote-snapshotter handler nerdctl adds only for stargz,
//	    nydus, overlaybd, soci and cvmfs (so no cri.* labels reach SN);
//	 2. run: a container of REF on SN whose task runs `sh -c 'CHANGES'`
//	    (-changes) and exits;
//	 3. commit: rootfs.CreateDiff of its snapshot (the diff service), a new
//	    config (diff_ids, history) and manifest written to the content store,
//	    the image REF-committed created and unpacked into SN, as nerdctl commit
//	    does;
//	 4. a container of the committed image runs SCRIPT; its stdout goes to ours.
//
// Prints "labels-with-cri N" (layer snapshots carrying cri.* labels) on stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/containerd/rootfs"
	"github.com/containerd/containerd/snapshots"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	address = flag.String("address", "", "containerd socket")
	ns      = flag.String("namespace", "nerdcalls", "containerd namespace")
	snName  = flag.String("snapshotter", "snapkeep", "snapshotter")
	ref     = flag.String("ref", "", "image reference (plain-HTTP registry)")
	changes = flag.String("changes", "echo committed > /committed.txt", "shell run in the first container")
	script  = flag.String("script", "find / -xdev | sort", "shell run in the committed image's container")
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "nerdcalls: "+format+"\n", a...)
	os.Exit(1)
}

// runTask runs the container's task to its end; stdout into out.
func runTask(ctx context.Context, c containerd.Container, out *bytes.Buffer) {
	var errb bytes.Buffer
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, &errb)))
	if err != nil {
		die("new task: %v", err)
	}
	defer task.Delete(ctx, containerd.WithProcessKill)
	st, err := task.Wait(ctx)
	if err != nil {
		die("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		die("start: %v", err)
	}
	s := <-st
	if code, _, _ := s.Result(); code != 0 {
		die("task exited %d: %s", code, errb.String())
	}
}

func newContainer(ctx context.Context, client *containerd.Client, id string, img containerd.Image, sh string) containerd.Container {
	c, err := client.NewContainer(ctx, id, containerd.WithImage(img), containerd.WithSnapshotter(*snName),
		containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(oci.WithImageConfig(img),
			oci.WithProcessArgs("/bin/sh", "-c", sh)))
	if err != nil {
		die("new container %s: %v", id, err)
	}
	return c
}

func main() {
	flag.Parse()
	if *address == "" || *ref == "" {
		die("usage: nerdcalls -address SOCK -ref REF [-namespace NS] [-snapshotter SN] [-changes SH] [-script SH]")
	}
	client, err := containerd.New(*address, containerd.WithTimeout(20*time.Second))
	if err != nil {
		die("connect: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), *ns), 5*time.Minute)
	defer cancel()
	// nerdctl holds a lease across pull, run and commit.
	ctx, done, err := client.WithLease(ctx)
	if err != nil {
		die("lease: %v", err)
	}
	defer done(context.Background())

	// 1. pull
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts))})
	img, err := client.Pull(ctx, *ref, containerd.WithResolver(resolver), containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(*snName), containerd.WithPlatformMatcher(platforms.Default()))
	if err != nil {
		die("pull %s: %v", *ref, err)
	}
	sn := client.SnapshotService(*snName)
	withCRI := 0
	sn.Walk(ctx, func(ctx context.Context, info snapshots.Info) error {
		for k := range info.Labels {
			if strings.HasPrefix(k, "containerd.io/snapshot/cri.") {
				withCRI++
				break
			}
		}
		return nil
	})
	fmt.Fprintf(os.Stderr, "labels-with-cri %d\n", withCRI)

	// 2. run
	c1 := newContainer(ctx, client, "nerd-c1", img, *changes)
	defer c1.Delete(context.Background(), containerd.WithSnapshotCleanup)
	var out bytes.Buffer
	runTask(ctx, c1, &out)

	// 3. commit
	cs := client.ContentStore()
	info, err := c1.Info(ctx)
	if err != nil {
		die("container info: %v", err)
	}
	layer, err := rootfs.CreateDiff(ctx, info.SnapshotKey, sn, client.DiffService())
	if err != nil {
		die("diff of %s: %v", info.SnapshotKey, err)
	}
	linfo, err := cs.Info(ctx, layer.Digest)
	if err != nil {
		die("layer info: %v", err)
	}
	diffID, err := digest.Parse(linfo.Labels["containerd.io/uncompressed"])
	if err != nil {
		die("layer %s has no uncompressed digest: %v", layer.Digest, err)
	}
	man, err := images.Manifest(ctx, cs, img.Target(), platforms.Default())
	if err != nil {
		die("manifest: %v", err)
	}
	cfgBlob, err := content.ReadBlob(ctx, cs, man.Config)
	if err != nil {
		die("config: %v", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBlob, &cfg); err != nil {
		die("config: %v", err)
	}
	now := time.Now().UTC()
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
	cfg.History = append(cfg.History, ocispec.History{Created: &now, CreatedBy: "nerdctl commit (nerdcalls)"})
	cfgBlob, _ = json.Marshal(cfg)
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgBlob), Size: int64(len(cfgBlob))}
	man.Config = cfgDesc
	man.Layers = append(man.Layers, layer)
	man.MediaType = ocispec.MediaTypeImageManifest
	manBlob, _ := json.Marshal(man)
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manBlob), Size: int64(len(manBlob))}
	gc := map[string]string{"containerd.io/gc.ref.content.config": cfgDesc.Digest.String()}
	for i, l := range man.Layers {
		gc[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	if err := content.WriteBlob(ctx, cs, cfgDesc.Digest.String(), bytes.NewReader(cfgBlob), cfgDesc); err != nil {
		die("write config: %v", err)
	}
	if err := content.WriteBlob(ctx, cs, manDesc.Digest.String(), bytes.NewReader(manBlob), manDesc,
		content.WithLabels(gc)); err != nil {
		die("write manifest: %v", err)
	}
	rec, err := client.ImageService().Create(ctx, images.Image{Name: *ref + "-committed", Target: manDesc})
	if err != nil {
		die("create image: %v", err)
	}
	cimg := containerd.NewImage(client, rec)
	if err := cimg.Unpack(ctx, *snName); err != nil {
		die("unpack committed image: %v", err)
	}

	// 4. run the committed image
	c2 := newContainer(ctx, client, "nerd-c2", cimg, *script)
	defer c2.Delete(context.Background(), containerd.WithSnapshotCleanup)
	out.Reset()
	runTask(ctx, c2, &out)
	os.Stdout.Write(out.Bytes())
}
