// cri: a CRI (runtime.v1) client that talks to containerd's socket the way
// kubelet does, for the Kubernetes-path tests (tests/integration/test-cri*.sh).
// One call per invocation, so the shell test decides the order; results go to
// stdout, errors to stderr with the gRPC status, exit 1 on failure.
//
//	cri -address SOCK version
//	cri -address SOCK pull REF                    # prints the image id
//	cri -address SOCK image-id REF                # prints the image id, exit 3 if absent
//	cri -address SOCK rmi REF
//	cri -address SOCK [-ns NS] runp POD           # host-network sandbox; prints its id
//	cri -address SOCK [-ns NS] create PODID POD NAME IMAGE [-- CMD...]   # prints the container id
//	cri -address SOCK start CID
//	cri -address SOCK exec CID CMD...             # stdout/stderr passed through, exits with CMD's code
//	cri -address SOCK status CID                  # prints "STATE EXITCODE IMAGEREF"
//	cri -address SOCK stopp PODID / rmp PODID
//
// The pod's config is rebuilt from POD and -ns in create (kubelet passes it
// again there): a uid derived from POD, attempt 0, host network, log dir
// -logdir, labels app=POD and tier=test. Sandboxes and containers carry the
// io.kubernetes.* labels kubelet puts on them.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	api "snapkeep-gen/criapi"
)

const (
	runtimeSvc = "/runtime.v1.RuntimeService/"
	imageSvc   = "/runtime.v1.ImageService/"
)

var (
	address = flag.String("address", "", "containerd socket")
	timeout = flag.Duration("timeout", 5*time.Minute, "deadline of the call")
	podNS   = flag.String("ns", "default", "Kubernetes namespace of the pod")
	logDir  = flag.String("logdir", "/tmp", "pod log directory (kubelet: /var/log/pods/UID)")
)

// codec marshals with the protobuf APIv2 runtime: the generated criapi types
// are APIv2 messages, and the grpc-go in Debian's Go sources encodes with the
// older github.com/golang/protobuf, which cannot read them.
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error)   { return proto.Marshal(v.(proto.Message)) }
func (codec) Unmarshal(b []byte, v interface{}) error { return proto.Unmarshal(b, v.(proto.Message)) }
func (codec) Name() string                            { return "proto" }

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "cri: "+format+"\n", a...)
	os.Exit(1)
}

// podUID: a UUID-shaped uid derived from the pod's name, as stable as the
// name (kubelet's are random UUIDs).
func podUID(pod string) string {
	h := sha256.Sum256([]byte(pod))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func sandboxConfig(pod string) *api.PodSandboxConfig {
	host := &api.NamespaceOption{Network: api.NamespaceMode_NODE, Pid: api.NamespaceMode_CONTAINER, Ipc: api.NamespaceMode_POD}
	return &api.PodSandboxConfig{
		Metadata:     &api.PodSandboxMetadata{Name: pod, Uid: podUID(pod), Namespace: *podNS},
		LogDirectory: *logDir,
		// kubelet's labels on a sandbox: the pod's own labels plus its identity.
		Labels: map[string]string{"app": pod, "tier": "test",
			"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": *podNS,
			"io.kubernetes.pod.uid": podUID(pod)},
		Linux: &api.LinuxPodSandboxConfig{
			SecurityContext: &api.LinuxSandboxSecurityContext{NamespaceOptions: host},
		},
	}
}

func main() {
	flag.Parse()
	args := flag.Args()
	if *address == "" || len(args) == 0 {
		die("usage: cri -address SOCK COMMAND ARGS... (see the source's header)")
	}
	// Flags come before COMMAND; "--" ends create's arguments.
	cmd, rest := args[0], args[1:]
	pos, tail := rest, []string(nil)
	for i, a := range rest {
		if a == "--" {
			pos, tail = rest[:i], rest[i+1:]
			break
		}
	}
	need := func(n int) {
		if len(pos) < n {
			die("%s: needs %d argument(s), got %d", cmd, n, len(pos))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.DialContext(ctx, "unix://"+*address, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec{})))
	if err != nil {
		die("connect %s: %v", *address, err)
	}
	defer conn.Close()
	call := func(method string, req, resp proto.Message) {
		if err := conn.Invoke(ctx, method, req, resp); err != nil {
			st, _ := status.FromError(err)
			die("%s: %s: %s", method[strings.LastIndex(method, "/")+1:], st.Code(), st.Message())
		}
	}

	switch cmd {
	case "version":
		r := &api.VersionResponse{}
		call(runtimeSvc+"Version", &api.VersionRequest{Version: "v1"}, r)
		fmt.Println(r.RuntimeName, r.RuntimeVersion, r.RuntimeApiVersion)
	case "pull":
		need(1)
		r := &api.PullImageResponse{}
		call(imageSvc+"PullImage", &api.PullImageRequest{Image: &api.ImageSpec{Image: pos[0]}}, r)
		fmt.Println(r.ImageRef)
	case "image-id":
		need(1)
		r := &api.ImageStatusResponse{}
		call(imageSvc+"ImageStatus", &api.ImageStatusRequest{Image: &api.ImageSpec{Image: pos[0]}}, r)
		if r.Image == nil {
			os.Exit(3)
		}
		fmt.Println(r.Image.Id)
	case "rmi":
		need(1)
		call(imageSvc+"RemoveImage", &api.RemoveImageRequest{Image: &api.ImageSpec{Image: pos[0]}}, &api.RemoveImageResponse{})
	case "runp":
		need(1)
		r := &api.RunPodSandboxResponse{}
		call(runtimeSvc+"RunPodSandbox", &api.RunPodSandboxRequest{Config: sandboxConfig(pos[0])}, r)
		fmt.Println(r.PodSandboxId)
	case "create":
		need(4)
		cfg := &api.ContainerConfig{
			Metadata: &api.ContainerMetadata{Name: pos[2]},
			Image:    &api.ImageSpec{Image: pos[3]},
			Command:  tail,
			LogPath:  pos[2] + ".log",
			// kubelet's labels on a container: who it is (no pod labels).
			Labels: map[string]string{"io.kubernetes.pod.name": pos[1], "io.kubernetes.pod.namespace": *podNS,
				"io.kubernetes.pod.uid": podUID(pos[1]), "io.kubernetes.container.name": pos[2]},
		}
		r := &api.CreateContainerResponse{}
		call(runtimeSvc+"CreateContainer", &api.CreateContainerRequest{
			PodSandboxId: pos[0], Config: cfg, SandboxConfig: sandboxConfig(pos[1])}, r)
		fmt.Println(r.ContainerId)
	case "start":
		need(1)
		call(runtimeSvc+"StartContainer", &api.StartContainerRequest{ContainerId: pos[0]}, &api.StartContainerResponse{})
	case "exec":
		if len(rest) < 2 {
			die("exec: needs CID CMD...")
		}
		r := &api.ExecSyncResponse{}
		call(runtimeSvc+"ExecSync", &api.ExecSyncRequest{ContainerId: rest[0], Cmd: rest[1:], Timeout: 120}, r)
		os.Stdout.Write(r.Stdout)
		os.Stderr.Write(r.Stderr)
		os.Exit(int(r.ExitCode))
	case "status":
		need(1)
		r := &api.ContainerStatusResponse{}
		call(runtimeSvc+"ContainerStatus", &api.ContainerStatusRequest{ContainerId: pos[0]}, r)
		fmt.Println(r.Status.State, r.Status.ExitCode, r.Status.ImageRef)
	case "stop":
		need(1)
		call(runtimeSvc+"StopContainer", &api.StopContainerRequest{ContainerId: pos[0], Timeout: 5}, &api.StopContainerResponse{})
	case "rm":
		need(1)
		call(runtimeSvc+"RemoveContainer", &api.RemoveContainerRequest{ContainerId: pos[0]}, &api.RemoveContainerResponse{})
	case "stopp":
		need(1)
		call(runtimeSvc+"StopPodSandbox", &api.StopPodSandboxRequest{PodSandboxId: pos[0]}, &api.StopPodSandboxResponse{})
	case "rmp":
		need(1)
		call(runtimeSvc+"RemovePodSandbox", &api.RemovePodSandboxRequest{PodSandboxId: pos[0]}, &api.RemovePodSandboxResponse{})
	default:
		die("unknown command %q", cmd)
	}
}
