// The real node's pod sandbox ("pause") process: it holds the pod's namespaces
// and does nothing else. It exits on SIGTERM or SIGINT, because as PID 1 a
// process gets no default signal handlers: a plain `sleep` would ignore the
// signal and make every pod wait out its whole termination grace period.
// scripts/k8s/node.sh packs it into the image containerd pins as the sandbox.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
