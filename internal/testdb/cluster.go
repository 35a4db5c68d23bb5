package testdb

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Cluster is a private PostgreSQL server that one test starts, stops and restarts at will (to see
// what the bridge does when its database goes away), on its own loopback port and data folder. It
// never touches the shared server the other tests use. The binaries come from the newest
// /usr/lib/postgresql/<version>/bin; PGBIN overrides the folder.
type Cluster struct {
	tb      testing.TB
	bin     string
	dataDir string
	port    int
	cred    *syscall.Credential
}

// clusterStartWait bounds how long pg_ctl waits for the server to accept connections.
const clusterStartWait = 60 * time.Second

// NewCluster runs initdb into a fresh folder and starts the server on a free loopback port with
// trust authentication for the user postgres. It is stopped and removed when the test ends. When
// the test runs as root, the server runs as the system user postgres (PostgreSQL refuses root).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("PostgreSQL cluster test: run by make test, not with -short")
	}
	bin, err := postgresBin()
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	c := &Cluster{tb: tb, bin: bin}
	dir, err := os.MkdirTemp("", "mwtest-pg-")
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	c.dataDir = filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		if c.cred, err = postgresUser(); err != nil {
			tb.Fatalf("testdb: %v", err)
		}
		// The server's user must reach its folder; nothing secret lives there.
		if err = os.Chmod(dir, 0o755); err == nil {
			err = os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid))
		}
		if err != nil {
			tb.Fatalf("testdb: %v", err)
		}
	}
	if out, err := c.run("initdb", "-D", c.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		tb.Fatalf("testdb: initdb failed: %v\n%s", err, out)
	}
	if c.port, err = freeLoopbackPort(); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() { _, _ = c.run("pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop") })
	c.Start()
	return c
}

// URI returns the connection URI of the database postgres on this cluster.
func (c *Cluster) URI() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port returns the cluster's loopback port.
func (c *Cluster) Port() int { return c.port }

// Start starts the stopped server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.tb.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=100", c.port, filepath.Dir(c.dataDir))
	out, err := c.run("pg_ctl", "-D", c.dataDir, "-l", filepath.Join(filepath.Dir(c.dataDir), "server.log"),
		"-o", opts, "-w", "-t", strconv.Itoa(int(clusterStartWait.Seconds())), "start")
	if err != nil {
		c.tb.Fatalf("testdb: pg_ctl start failed: %v\n%s", err, out)
	}
	if err = c.ping(); err != nil {
		c.tb.Fatalf("testdb: private cluster does not answer: %v", err)
	}
}

// Stop stops the server in fast mode: open sessions are cut, as a restart of the database host
// would do. mode "immediate" stops it without a checkpoint, as a crash would.
func (c *Cluster) Stop(mode string) {
	c.tb.Helper()
	if out, err := c.run("pg_ctl", "-D", c.dataDir, "-m", mode, "-w", "stop"); err != nil {
		c.tb.Fatalf("testdb: pg_ctl stop failed: %v\n%s", err, out)
	}
}

func (c *Cluster) ping() error {
	db, err := sql.Open("postgres", c.URI())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}

// run runs one of the PostgreSQL binaries, as the postgres user when the test runs as root.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Dir = filepath.Dir(c.dataDir)
	}
	return cmd.CombinedOutput()
}

// postgresBin finds the folder holding initdb and pg_ctl.
func postgresBin() (string, error) {
	if dir := os.Getenv("PGBIN"); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", fmt.Errorf("no initdb found under /usr/lib/postgresql/*/bin or in PATH (set PGBIN)")
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the system user postgres to run a private cluster: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
