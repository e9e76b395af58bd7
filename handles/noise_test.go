package handles

import (
	"reflect"
	"testing"
	"time"
	"wefgate/internal/glob"

	"wefgate/wef/event"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{`\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\*`, `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT\Certificates`, true},
		{`\registry\machine\software\microsoft\systemcertificates\*`, `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT`, true},
		{`\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates\*`, `\REGISTRY\MACHINE\SOFTWARE\Microsoft\SystemCertificates`, false},
		{`*\drvinst.exe`, `C:\Windows\System32\drvinst.exe`, true},
		{`*\drvinst.exe`, `C:\Windows\System32\drvinst.exe.bak`, false},
		{`*lsass*`, `\Device\HarddiskVolume2\Windows\System32\lsass.exe`, true},
		{`a*b*c`, `aXXbYYbZZc`, true},
		{`a*b*c`, `aXXbYYcZZ`, false},
		{``, ``, true},
		{``, `x`, false},
		{`*`, ``, true},
		{`C:\a`, `c:\A`, true},
	}
	for _, tt := range tests {
		if got := glob.Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob.Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzMatchPattern(f *testing.F) {
	f.Add(`*\drvinst.exe`, `C:\Windows\System32\drvinst.exe`)
	f.Add(`a*b*c`, `aXXbYYbZZc`)
	f.Add(`**`, ``)
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := glob.Match(pattern, s)
		// A pattern matches itself once its stars are taken literally
		// (a star matches the one-character run "*").
		if !glob.Match(pattern, pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
		// A leading and trailing star make any substring match.
		if got && !glob.Match("*"+pattern+"*", "x"+s+"y") {
			t.Fatalf("%q matches %q but not inside x…y", pattern, s)
		}
	})
}

const drvinst = `C:\Windows\System32\drvinst.exe`

func TestNoiseDropOnSamples(t *testing.T) {
	capt := loadCapture(t, "xml/mdecrevoisier_systemnightmare_4656_4690_4658_4688.xml")
	cfg := Config{Noise: NoiseConfig{Mode: NoiseDrop, Rules: ExampleNoiseRules()}}
	c := NewCorrelator[int](cfg)
	var outs []Output[int]
	for i, ev := range capt.events {
		outs = append(outs, c.Add(replayStart.Add(time.Duration(i)*time.Millisecond), ev.Computer, ev, i)...)
	}
	outs = append(outs, c.Flush()...)

	var exported4690, dropped4690, dropped4658 int
	var summaries []*NoiseSummary
	for _, o := range outs {
		if o.Summary != nil {
			summaries = append(summaries, o.Summary)
			continue
		}
		switch {
		case o.Event.EventID == 4690 && o.Export:
			exported4690++
			if name, _ := attr(o, AttrObjectName).(string); glob.Match(`*Certificates*`, name) {
				t.Errorf("certificate-store 4690 exported: %s", formatAttributes(o.Attributes))
			}
		case o.Event.EventID == 4690:
			dropped4690++
		case o.Event.EventID == 4658 && !o.Export:
			dropped4658++
		}
	}
	// Two drvinst.exe processes each copy three certificate-store keys;
	// spoolsv.exe's four file copies stay.
	if dropped4690 != 6 || dropped4658 != 6 || exported4690 != 4 {
		t.Errorf("dropped %d 4690s and %d 4658s, exported %d 4690s; want 6, 6, 4", dropped4690, dropped4658, exported4690)
	}
	host := capt.events[0].Computer
	want := []NoiseCount{{Host: host, Image: drvinst, ObjectType: "Key", Duplicates: 6, Closes: 6}}
	if got := c.NoiseCounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("NoiseCounts = %+v, want %+v", got, want)
	}
	if len(summaries) != 1 || summaries[0].NoiseCount != want[0] || summaries[0].Mode != NoiseDrop {
		t.Errorf("Flush summaries = %+v", summaries)
	}
	if s := c.Stats(); s.NoiseDropped != 12 {
		t.Errorf("Stats.NoiseDropped = %d, want 12", s.NoiseDropped)
	}
}

func TestNoiseNeverHidesFlaggedEvents(t *testing.T) {
	capt := loadCapture(t, "xml/mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml")
	everything := Config{Noise: NoiseConfig{Mode: NoiseDrop, Rules: []NoiseRule{{}}}}
	outs, c := replay(t, everything, capt.events)
	for _, ev := range capt.events {
		if IsHandleEvent(ev) && !outs[ev].Export {
			t.Errorf("flagged %d dropped as noise", ev.EventID)
		}
	}
	if n := c.NoiseCounts(); len(n) != 0 {
		t.Errorf("NoiseCounts = %+v", n)
	}
}

func TestNoiseModes(t *testing.T) {
	pair := func(rec, h uint64) []*event.Event {
		return []*event.Event{
			dupEv(rec, 0x7a4, h, 4, 0x138c),
			closeEv(rec+1, 0x7a4, 0x138c, drvinst),
			openEv(rec+2, 0x7a4, h, "Key", certKey, 0x3001f, drvinst),
			closeEv(rec+3, 0x7a4, h, drvinst),
		}
	}
	rules := []NoiseRule{{ObjectType: "key", ObjectName: `*\SystemCertificates\*`, Image: `*\drvinst.exe`}}
	tests := []struct {
		name       string
		noise      NoiseConfig
		events     []*event.Event
		want       map[int]map[string]any
		wantCounts []NoiseCount
	}{{
		name:   "off",
		noise:  NoiseConfig{Rules: rules},
		events: pair(1, 0x1ac),
		want:   map[int]map[string]any{0: {exportKey: true, AttrNoise: absent{}}, 1: {exportKey: true, AttrNoise: absent{}}},
	}, {
		name:       "tag",
		noise:      NoiseConfig{Mode: NoiseTag, Rules: rules},
		events:     pair(1, 0x1ac),
		want:       map[int]map[string]any{0: {exportKey: true, AttrNoise: true}, 1: {exportKey: true, AttrNoise: true}, 3: {exportKey: true, AttrNoise: absent{}}},
		wantCounts: []NoiseCount{{Host: "host1", Image: drvinst, ObjectType: "Key", Duplicates: 1, Closes: 1}},
	}, {
		name:       "drop",
		noise:      NoiseConfig{Mode: NoiseDrop, Rules: rules},
		events:     append(pair(1, 0x1ac), pair(5, 0x1b0)...),
		want:       map[int]map[string]any{0: {exportKey: false}, 1: {exportKey: false}, 3: {exportKey: true}, 4: {exportKey: false}},
		wantCounts: []NoiseCount{{Host: "host1", Image: drvinst, ObjectType: "Key", Duplicates: 2, Closes: 2}},
	}, {
		name:   "rule on another image does not match",
		noise:  NoiseConfig{Mode: NoiseDrop, Rules: []NoiseRule{{ObjectType: "Key", Image: `*\cscript.exe`}}},
		events: pair(1, 0x1ac),
		want:   map[int]map[string]any{0: {exportKey: true}, 1: {exportKey: true}},
	}, {
		name:  "copies into a user process are never noise",
		noise: NoiseConfig{Mode: NoiseDrop, Rules: []NoiseRule{{}}},
		events: []*event.Event{
			openEv(1, 0x7a4, 0x10, "Key", certKey, 0x3001f, drvinst),
			dupEv(2, 0x7a4, 0x10, 0x7a4, 0x14),
			closeEv(3, 0x7a4, 0x14, drvinst),
		},
		want: map[int]map[string]any{1: {exportKey: true}, 2: {exportKey: true}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs, c := replay(t, Config{Noise: tt.noise}, tt.events)
			checkOutputs(t, outs, tt.events, tt.want)
			if got := c.NoiseCounts(); !reflect.DeepEqual(got, tt.wantCounts) && len(got)+len(tt.wantCounts) > 0 {
				t.Errorf("NoiseCounts = %+v, want %+v", got, tt.wantCounts)
			}
		})
	}
}

func TestNoiseSummaries(t *testing.T) {
	cfg := Config{Noise: NoiseConfig{Mode: NoiseDrop, Rules: []NoiseRule{{ObjectType: "Key"}},
		SummaryInterval: time.Minute, MaxKeys: 2}}
	c := NewCorrelator[any](cfg)
	at := func(d time.Duration) time.Time { return replayStart.Add(d) }
	c.Tick(at(0)) // starts the first period
	pairFor := func(now time.Time, host, image string, rec uint64) {
		for _, ev := range []*event.Event{
			openEv(rec, 0x10, 0x20, "Key", certKey, 0x20019, image),
			dupEv(rec+1, 0x10, 0x20, 4, 0x30),
			closeEv(rec+2, 0x10, 0x30, image),
		} {
			c.Add(now, host, ev, nil)
		}
	}
	pairFor(at(time.Second), "a", `C:\one.exe`, 1)
	pairFor(at(2*time.Second), "a", `C:\two.exe`, 10)
	pairFor(at(3*time.Second), "b", `C:\one.exe`, 20) // third key: folded into (other)
	if outs := c.Tick(at(30 * time.Second)); len(outs) != 0 {
		t.Fatalf("summary before the interval: %+v", outs)
	}
	outs := c.Tick(at(time.Minute))
	var got []NoiseCount
	for _, o := range outs {
		if o.Summary == nil || !o.Export || o.Event != nil {
			t.Fatalf("unexpected output %+v", o)
		}
		if !o.Summary.Start.Equal(at(0)) || !o.Summary.End.Equal(at(time.Minute)) {
			t.Errorf("period %v-%v", o.Summary.Start, o.Summary.End)
		}
		if attr(o, AttrNoiseDuplicates) != int64(o.Summary.Duplicates) || attr(o, AttrNoiseMode) != "drop" {
			t.Errorf("summary attributes %s", formatAttributes(o.Attributes))
		}
		got = append(got, o.Summary.NoiseCount)
	}
	want := []NoiseCount{
		{Host: otherImage, Image: otherImage, ObjectType: "", Duplicates: 1, Closes: 1},
		{Host: "a", Image: `C:\one.exe`, ObjectType: "Key", Duplicates: 1, Closes: 1},
		{Host: "a", Image: `C:\two.exe`, ObjectType: "Key", Duplicates: 1, Closes: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summaries %+v\nwant %+v", got, want)
	}
	// The next period starts empty; totals keep counting.
	pairFor(at(61*time.Second), "a", `C:\one.exe`, 30)
	outs = c.Tick(at(2 * time.Minute))
	if len(outs) != 1 || outs[0].Summary.Duplicates != 1 || !outs[0].Summary.Start.Equal(at(time.Minute)) {
		t.Fatalf("second period %+v", outs)
	}
	if total := c.NoiseCounts(); len(total) != 3 || total[1].Duplicates != 2 {
		t.Errorf("NoiseCounts = %+v", total)
	}
	if outs := c.Flush(); len(outs) != 0 {
		t.Errorf("Flush after summarising everything: %+v", outs)
	}
}
