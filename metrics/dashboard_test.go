package metrics_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// TestDashboardUsesExportedMetrics keeps docs/grafana-dashboard.json in step with the metrics: every
// metric name a panel queries must be in a scrape.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err = json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	m := metrics.New(staticSource{metrics.Snapshot{DatabaseOK: true, Logins: map[whatsapp.StateEvent]int{}, MatrixInboxOldest: time.Now()}}, zerolog.Nop())
	// Labelled counters only appear once they were counted.
	m.Bridged(metrics.WhatsAppToMatrix, "text")
	m.Failed(metrics.MatrixToWhatsApp, metrics.ReasonGaveUp)
	m.LoginStateChanged(whatsapp.State{Event: whatsapp.StateConnected}, whatsapp.State{Event: whatsapp.StateConnecting})
	m.Transactions(func(w http.ResponseWriter, r *http.Request) {})(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/", nil))
	m.Handled(metrics.WhatsAppToMatrix, time.Millisecond, nil)
	body := scrape(t, m)
	name := regexp.MustCompile(`matrix_whatsapp_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, metric := range name.FindAllString(target.Expr, -1) {
				queried++
				if !strings.Contains(body, "\n"+metric+"{") && !strings.Contains(body, "\n"+metric+" ") {
					t.Errorf("panel %q queries %s, which the bridge does not export", p.Title, metric)
				}
			}
		}
	}
	if queried < 10 {
		t.Errorf("dashboard queries only %d metrics", queried)
	}
}
