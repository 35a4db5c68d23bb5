package bridge

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestProvisioningOpenAPIMatchesRoutes keeps docs/provisioning-openapi.yaml in step with the
// endpoints the bridge serves.
func TestProvisioningOpenAPIMatchesRoutes(t *testing.T) {
	data, err := os.ReadFile("../docs/provisioning-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err = yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("OpenAPI document is not valid YAML: %v", err)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, route := range provisionRoutes {
		served = append(served, route.method+" "+route.path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Errorf("OpenAPI documents\n%s\nbut the bridge serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestPhoneDigits(t *testing.T) {
	for in, want := range map[string]string{"+49 151 1234-5678": "4915112345678", "4917600000002": "4917600000002", "+1 (555) 010-0000": "15550100000"} {
		if got, ok := phoneDigits(in); !ok || got != want {
			t.Errorf("phoneDigits(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "12", "call me", "+49 151 abc", "1234567890123456789", "+15550003abc", "+1555abc0003", "++15550004", "+15550003 +15550004"} {
		if got, ok := phoneDigits(bad); ok {
			t.Errorf("phoneDigits(%q) = %q, want refused", bad, got)
		}
	}
}

// TestAPILoginProgress: waiters see each new step, a poll with nothing new returns the current
// step after the wait, and nothing follows the end of a login.
func TestAPILoginProgress(t *testing.T) {
	ctx := context.Background()
	p := newAPILogin()
	if step := p.wait(ctx, 0, time.Millisecond); step.Seq != 0 {
		t.Fatalf("empty progress gave %+v", step)
	}
	got := make(chan apiLoginStep)
	go func() { got <- p.wait(ctx, 0, time.Minute) }()
	p.set(apiLoginStep{Type: "qr", Code: "one"})
	if step := <-got; step.Seq != 1 || step.Code != "one" {
		t.Errorf("first step = %+v", step)
	}
	p.set(apiLoginStep{Type: "qr", Code: "two"})
	if step := p.wait(ctx, 1, time.Minute); step.Seq != 2 || step.Code != "two" {
		t.Errorf("second step = %+v", step)
	}
	if step := p.wait(ctx, 2, 10*time.Millisecond); step.Seq != 2 {
		t.Errorf("poll with nothing new = %+v, want the current step", step)
	}
	p.set(apiLoginStep{Type: "success", Phone: "+4915112345678"})
	p.set(apiLoginStep{Type: "failed", Error: "late"})
	if step := p.wait(ctx, 0, time.Minute); step.Type != "success" || step.Seq != 3 {
		t.Errorf("outcome = %+v, want the success to stay", step)
	}
}
