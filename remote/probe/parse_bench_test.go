package probe

import "testing"

// BenchmarkParse parses the output of a five-route sensor probe, as an audited v2 host answers it.
func BenchmarkParse(b *testing.B) {
	c := configs["sensor_v2"]
	out := []byte(outputJSON(sensorURL, "given", `{"found":true,"error":"","proxyUrl":"http://proxy.lab.test:8080","proxyUser":"","credentials":false,"address":"contososensorapi.atp.azure.com","port":443}`,
		`{"`+rootG2+`":true,"`+rootCA+`":false}`,
		res("SENSOR", 1, r200), res("CURRENT_USER", 2, r200dir), res("LOCAL_SYSTEM", 1, r200), res("LOCAL_SERVICE", 1, r200), res("DIRECT", 2, r200dir)))
	if _, err := Parse(out, c); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(out, c); err != nil {
			b.Fatal(err)
		}
	}
}
