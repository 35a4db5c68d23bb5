package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// portHolderEnv makes the test binary, started by TestPortsNotSharedBetweenProcesses, act as a
// second test process: it takes a port with freePort, prints it and holds it until its standard
// input closes.
const portHolderEnv = "E2E_TEST_PORT_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(portHolderEnv) != "" {
		port, err := freePort()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(port)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPortsNotSharedBetweenProcesses checks that a port one test process was given is not given
// to another while the first runs (make test runs several test binaries at once, and a port
// checked free is open to others until its server binds it), and is free again once it ended.
func TestPortsNotSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), portHolderEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the other process's port: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the other process said %q", line)
	}

	if lock, err := reservePort(port); err == nil {
		_ = lock.Close()
		t.Fatalf("port %d, given to another running process, could be reserved here", port)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the other process: %v", err)
	}
	lock, err := reservePort(port)
	if err != nil {
		t.Fatalf("port %d still reserved after the process holding it ended: %v", port, err)
	}
	_ = lock.Close()
}
