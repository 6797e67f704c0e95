package probe

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary output for the sensor configuration (the richest one). The seed
// corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(outputJSON(sensorURL, "given", `{"found":false,"error":"NotFound","proxyUrl":"","proxyUser":"","credentials":false,"address":"","port":0}`,
		`{"`+rootG2+`":true,"`+rootCA+`":false}`,
		res("SENSOR", 0, rNoSensor), res("CURRENT_USER", 1, r200dir), res("LOCAL_SYSTEM", 2, r407), res("LOCAL_SERVICE", 2, r407), res("DIRECT", 1, r200dir))))
	f.Add([]byte(`{}`))
	f.Add([]byte("\xef\xbb\xbf[{}]"))
	f.Add([]byte(`#< CLIXML`))
	c := configs["sensor_v2"]
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Parse(b, c)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error does not wrap ErrBadOutput: %v", err)
			}
			return
		}
		if len(out.Results) != len(c.Routes) || out.Sensor == nil || len(out.Roots) != len(c.Roots) {
			t.Fatalf("%d results for %d routes, sensor %v, %d roots", len(out.Results), len(c.Routes), out.Sensor, len(out.Roots))
		}
		if out.Requests > len(c.Routes) {
			t.Fatalf("%d requests for %d routes", out.Requests, len(c.Routes))
		}
		for i, r := range out.Results {
			if r.ID != c.Routes[i].ID {
				t.Fatalf("result %d is %s, want %s", i, r.ID, c.Routes[i].ID)
			}
			if r.Body != "" && r.Status != 200 {
				t.Fatalf("body with status %d", r.Status)
			}
			if r.SharedWith == r.ID {
				t.Fatalf("%s shares with itself", r.ID)
			}
		}
	})
}

func FuzzExtract(f *testing.F) {
	for _, c := range configs {
		s, _ := Script(c)
		f.Add(s)
		f.Add(Inline(s))
	}
	f.Add("Get-Date")
	f.Add(scriptHead + dataPrefix + `url='https://a';urlSource='';timeoutMs=1;sensorConfig='';roots=@();routes=@()}` + "\n" + scriptBody)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Extract(s)
		if err != nil {
			if !errors.Is(err, ErrNotProbe) {
				t.Fatalf("error does not wrap ErrNotProbe: %v", err)
			}
			return
		}
		again, err := Script(c)
		if err != nil || (again != s && Inline(again) != s) {
			t.Fatalf("Extract accepted a text Script does not reproduce: %v", err)
		}
		if c.Timeout <= 0 || c.Timeout%time.Millisecond != 0 {
			t.Fatalf("bad timeout %v", c.Timeout)
		}
	})
}
