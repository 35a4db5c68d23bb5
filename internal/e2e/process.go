package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"math/rand/v2"
)

// process is one child program (Dendrite or the bridge) whose output is appended to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}

	stateLock sync.Mutex
	stopping  bool
	exitErr   error
}

// startProcess runs bin with args in dir, appending stdout and stderr to logPath.
func startProcess(name, dir, logPath, bin string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s log: %w", name, err)
	}
	_, _ = fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group, so that a Ctrl-C in the terminal reaches only the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err = cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		p.stateLock.Lock()
		p.exitErr = err
		p.stateLock.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		p.stateLock.Lock()
		defer p.stateLock.Unlock()
		return true, p.exitErr
	default:
		return false, nil
	}
}

// unexpectedExit describes an exit nobody asked for, or returns nil when the process runs, was
// stopped, or was never started (nil).
func (p *process) unexpectedExit() error {
	if p == nil {
		return nil
	}
	p.stateLock.Lock()
	stopping := p.stopping
	p.stateLock.Unlock()
	if ended, err := p.exited(); ended && !stopping {
		if err == nil {
			return fmt.Errorf("%s exited on its own with status 0", p.name)
		}
		return fmt.Errorf("%s exited on its own: %w", p.name, err)
	}
	return nil
}

// stop sends SIGTERM and waits up to grace for the process to end, then kills it. The error says
// when the process had to be killed or ended with a failure status.
func (p *process) stop(grace time.Duration) error {
	p.stateLock.Lock()
	p.stopping = true
	p.stateLock.Unlock()
	if ended, err := p.exited(); ended {
		return err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		_, err := p.exited()
		return err
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", p.name, grace)
	}
}

// TailFile returns the last n lines of a file, or a note saying why it could not be read.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// handedOut holds every port freePort returned in this process: a test's server keeps its port
// while it is stopped (a homeserver outage, a bridge restart), and another test must not take it
// meanwhile, or the first test's clients would talk to the other test's server. Each port is also
// reserved against other processes (reservePort) until this process ends: the map keeps the lock
// file open (an unreferenced *os.File would be closed by its finalizer, dropping the lock).
var handedOut = struct {
	sync.Mutex
	ports map[int]*os.File
}{ports: make(map[int]*os.File)}

// FreeLoopbackAddr returns a loopback "host:port" for a test's own listener (a bridge's metrics
// or debug listener) that nobody listens on and that no other test was given (freePort), below
// the kernel's ephemeral port range. A port taken from the kernel with "127.0.0.1:0" and closed
// again lies inside that range, where an outgoing connection of any process can occupy it before
// the server binds it.
func FreeLoopbackAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// freePort returns a loopback TCP port nobody listens on and that no earlier call returned, in
// this process or in any other test process that is still running. It picks ports below the
// kernel's ephemeral range, so that outgoing connections (which take ephemeral ports) never
// occupy a port a test server is about to re-bind after a restart; the random choice keeps
// parallel test processes apart, and the reservation makes sure of it.
func freePort() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	var lastErr error
	for range 200 {
		port := 15000 + rand.IntN(17000)
		if _, taken := handedOut.ports[port]; taken {
			continue
		}
		lock, err := reservePort(port)
		if err != nil {
			lastErr = err
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			_ = lock.Close()
			lastErr = err
			continue
		}
		_ = l.Close()
		handedOut.ports[port] = lock
		return port, nil
	}
	return 0, errors.Join(errors.New("no free loopback port found"), lastErr)
}

// portLockDir is where reservePort keeps one lock file per port, shared by every test process
// of the machine's user.
var portLockDir = filepath.Join(os.TempDir(), "matrix-whatsapp-e2e-ports-"+strconv.Itoa(os.Getuid()))

// reservePort takes an exclusive lock (flock) on port's file in portLockDir, so that no other
// test process hands the port out while the returned file stays open. The lock goes with the
// process: the kernel releases it when the process exits, however it ends. A port checked free
// with a listen and then closed is otherwise open to another process (make test runs several
// test binaries at once) until the server that was given it binds it.
func reservePort(port int) (*os.File, error) {
	if err := os.MkdirAll(portLockDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(portLockDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("port %d is reserved by another test process: %w", port, err)
	}
	return f, nil
}
