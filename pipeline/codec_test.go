package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"wefgate/internal/samples"

	"wefgate/wef/event"
)

// rawParse keeps only the XML, so codec tests do not depend on the parser.
func rawParse(raw []byte) *event.Event { return &event.Event{Raw: string(raw)} }

func testDelivery(events ...string) *Delivery {
	d := &Delivery{Source: Source{
		Identity:            "ws01.corp.example.com",
		MachineID:           "WS01.corp.example.com",
		Address:             "192.0.2.10",
		Subscription:        "handles",
		SubscriptionID:      "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
		SubscriptionVersion: "B8A0E6E4-0C6B-4A5B-9F8E-1D2C3B4A5968",
		Received:            time.Date(2026, 11, 21, 6, 30, 1, 123456789, time.UTC),
	}}
	for _, e := range events {
		d.Events = append(d.Events, &event.Event{Raw: e})
	}
	return d
}

func TestDeliveryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *Delivery
	}{
		{"full", testDelivery("<Event>a</Event>", "<Event>é ü 漢字</Event>", "")},
		{"no events", testDelivery()},
		{"zero source", &Delivery{Events: []*event.Event{{Raw: "<Event/>"}}}},
		{"large event", testDelivery(strings.Repeat("<Data>x</Data>", 40000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := EncodeDelivery(tc.d)
			if len(b) > EncodedSize(tc.d) {
				t.Fatalf("encoded %d bytes, EncodedSize said at most %d", len(b), EncodedSize(tc.d))
			}
			got, err := DecodeDelivery(b, rawParse)
			if err != nil {
				t.Fatalf("DecodeDelivery: %v", err)
			}
			if !reflect.DeepEqual(got.Source, tc.d.Source) {
				t.Fatalf("source %+v, want %+v", got.Source, tc.d.Source)
			}
			if len(got.Events) != len(tc.d.Events) {
				t.Fatalf("%d events, want %d", len(got.Events), len(tc.d.Events))
			}
			for i := range got.Events {
				if got.Events[i].Raw != tc.d.Events[i].Raw {
					t.Fatalf("event %d raw differs", i)
				}
			}
		})
	}
}

func TestDecodeDeliveryRejectsDamage(t *testing.T) {
	good := EncodeDelivery(testDelivery("<Event>a</Event>", "<Event>b</Event>"))
	for n := 0; n < len(good); n++ {
		if _, err := DecodeDelivery(good[:n], rawParse); !errors.Is(err, ErrBadDelivery) {
			t.Fatalf("prefix of %d bytes: err %v, want ErrBadDelivery", n, err)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"unknown version", append([]byte{3}, good[1:]...)},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"huge event count", append(EncodeDelivery(testDelivery())[:len(EncodeDelivery(testDelivery()))-1], 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"bad received flag", func() []byte {
			b := EncodeDelivery(&Delivery{})
			b[7] = 9
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeDelivery(tc.b, rawParse); !errors.Is(err, ErrBadDelivery) {
				t.Fatalf("err %v, want ErrBadDelivery", err)
			}
		})
	}
}

// TestDeliveryRoundTripRealEvents spools real forwarded events and checks
// that decoding with event.Parse gives what parsing the original gives.
func TestDeliveryRoundTripRealEvents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samples.Path(t, "wef"), "event-*.xml"))
	if len(files) == 0 {
		t.Skip("WEF samples not present")
	}
	d := testDelivery()
	var want []*event.Event
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ev := event.Parse(raw)
		want = append(want, ev)
		d.Events = append(d.Events, ev)
	}
	got, err := DecodeDelivery(EncodeDelivery(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got.Events {
		if !reflect.DeepEqual(ev, want[i]) {
			t.Errorf("%s: decoded event differs from the parsed original", filepath.Base(files[i]))
		}
	}
}

// encodeDeliveryV1 is the version 1 encoding (XML only), as earlier
// versions of wefgate spooled it.
func encodeDeliveryV1(d *Delivery) []byte {
	dst := appendHeader(nil, deliveryCodecV1, d)
	for _, ev := range d.Events {
		dst = appendString(dst, ev.Raw)
	}
	return dst
}

// A spool written by an earlier version (XML only) is still shipped: its
// events are parsed on the way out.
func TestDecodeDeliveryVersion1(t *testing.T) {
	raw := `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4690</EventID><EventRecordID>7</EventRecordID><Channel>Security</Channel><Computer>ws01</Computer></System><EventData><Data Name='SourceHandleId'>0x274</Data></EventData></Event>`
	d := testDelivery(raw)
	got, err := DecodeDelivery(encodeDeliveryV1(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Source, d.Source) || len(got.Events) != 1 || !reflect.DeepEqual(got.Events[0], event.Parse([]byte(raw))) {
		t.Fatalf("version 1 delivery decoded as %+v", got)
	}
}

// fillAll sets every field reachable from v to a non-zero value, so that a
// field the codec does not carry shows as a difference.
func fillAll(t *testing.T, v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillAll(t, v.Index(i), n)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 21, 6, 30, *n, 123456789, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			fillAll(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fillAll: no rule for %s (%s): teach the codec and this test about it", v.Type(), v.Kind())
	}
}

// TestDeliveryCarriesEveryEventField fails when event.Event gains a field
// the spool codec does not carry: the shipper would lose it.
func TestDeliveryCarriesEveryEventField(t *testing.T) {
	ev := &event.Event{}
	n := 0
	fillAll(t, reflect.ValueOf(ev).Elem(), &n)
	d := testDelivery()
	d.Events = []*event.Event{ev, {Raw: "<Event/>"}}
	b := EncodeDelivery(d)
	if len(b) > EncodedSize(d) {
		t.Fatalf("encoded %d bytes, EncodedSize said at most %d", len(b), EncodedSize(d))
	}
	got, err := DecodeDelivery(b, func([]byte) *event.Event { t.Fatal("version 2 parsed again"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Events, d.Events) {
		t.Fatalf("round trip lost fields:\n got %+v\nwant %+v", got.Events[0], d.Events[0])
	}
}

func FuzzDecodeDelivery(f *testing.F) {
	f.Add(EncodeDelivery(testDelivery("<Event>a</Event>", "<Event>b</Event>")))
	f.Add(EncodeDelivery(testDelivery()))
	f.Add(EncodeDelivery(&Delivery{}))
	f.Add(encodeDeliveryV1(testDelivery("<Event>a</Event>")))
	full := &event.Event{Raw: "<Event/>", EventID: 4690, HasRecordID: true, RecordID: 9, TimeCreated: time.Unix(1, 2).UTC(),
		EventData: []event.Data{{Name: "a", Value: "b"}}, Rendering: &event.Rendering{Keywords: []string{"k"}},
		Problem: &event.Problem{Kind: event.ProblemPartial, Message: "m"}}
	f.Add(EncodeDelivery(&Delivery{Events: []*event.Event{full}}))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDelivery(b, rawParse)
		if err != nil {
			if !errors.Is(err, ErrBadDelivery) {
				t.Fatalf("error %v does not wrap ErrBadDelivery", err)
			}
			return
		}
		// Whatever decodes must encode back to a delivery that decodes the same.
		again, err := DecodeDelivery(EncodeDelivery(d), rawParse)
		if err != nil {
			t.Fatalf("re-encoded delivery does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip changed the delivery")
		}
	})
}

func benchDelivery() *Delivery {
	var evs []string
	for i := 0; i < 50; i++ {
		evs = append(evs, strings.Repeat("<Event><System><EventID>4690</EventID></System></Event>", 16))
	}
	return testDelivery(evs...)
}

func BenchmarkEncodeDelivery(b *testing.B) {
	d := benchDelivery()
	buf := make([]byte, 0, EncodedSize(d))
	b.SetBytes(int64(len(EncodeDelivery(d))))
	for b.Loop() {
		buf = AppendDelivery(buf[:0], d)
	}
}

func BenchmarkDecodeDelivery(b *testing.B) {
	enc := EncodeDelivery(benchDelivery())
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeDelivery(enc, rawParse); err != nil {
			b.Fatal(err)
		}
	}
}
