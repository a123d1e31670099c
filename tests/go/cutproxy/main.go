// cutproxy: an HTTP proxy in front of a registry that makes the registry
// "stop mid-pull": it forwards every request, and when a blob download of
// -digest has sent -after bytes, it kills the registry (-kill PID, SIGKILL),
// breaks that response off and refuses everything after. For
// tests/integration/test-cri-failures.sh.
//
//	cutproxy -listen 127.0.0.1:PORT -backend 127.0.0.1:PORT2 -digest sha256:... -after 1048576 -kill PID
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	listen  = flag.String("listen", "", "address to listen on")
	backend = flag.String("backend", "", "registry host:port")
	digest  = flag.String("digest", "", "blob to cut")
	after   = flag.Int64("after", 1<<20, "bytes of that blob to pass before the cut")
	killPID = flag.Int("kill", 0, "registry pid to SIGKILL at the cut")
	cut     atomic.Bool
)

type cutBody struct {
	io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if !cut.Swap(true) && *killPID > 0 {
			syscall.Kill(*killPID, syscall.SIGKILL)
			log.Printf("cut: registry pid %d killed", *killPID)
		}
		return 0, errors.New("registry stopped")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

func main() {
	flag.Parse()
	target, err := url.Parse("http://" + *backend)
	if err != nil {
		log.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method == http.MethodGet && strings.HasSuffix(r.Request.URL.Path, "/blobs/"+*digest) {
			r.Body = &cutBody{ReadCloser: r.Body, left: *after}
		}
		return nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut.Load() {
			// The registry is gone: drop the connection as a dead server would.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "gone", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, h))
}
