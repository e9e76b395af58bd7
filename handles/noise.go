package handles

import (
	"cmp"
	"slices"
	"time"

	"wefgate/record"
)

// NoiseSummaryEventName is the event name for records built from summary
// Outputs.
const NoiseSummaryEventName = "wefgate.handles.noise_summary"

// otherImage stands for host and image of the counter that collects counts
// once NoiseConfig.MaxKeys combinations exist.
const otherImage = "(other)"

type noiseKey struct {
	host       string
	image      string
	objectType string
}

type noiseTally struct {
	duplicates uint64
	closes     uint64
}

// NoiseCount is how many by-product events of one host, image and object
// type were tagged or dropped.
type NoiseCount struct {
	Host       string
	Image      string
	ObjectType string
	// Duplicates counts 4690s, Closes the 4658s closing their copies.
	Duplicates uint64
	Closes     uint64
}

// NoiseSummary is a NoiseCount over one period, carried by a summary
// Output.
type NoiseSummary struct {
	NoiseCount
	Mode  NoiseMode
	Start time.Time
	End   time.Time
}

// noiseCounter keeps cumulative totals and the counts of the current
// summary period, both capped at maxKeys combinations.
type noiseCounter struct {
	maxKeys     int
	total       map[noiseKey]*noiseTally
	period      map[noiseKey]*noiseTally
	periodStart time.Time
}

func newNoiseCounter(maxKeys int) noiseCounter {
	return noiseCounter{
		maxKeys: maxKeys,
		total:   make(map[noiseKey]*noiseTally),
		period:  make(map[noiseKey]*noiseTally),
	}
}

// capKey folds a new combination into one "(other)" counter when the cap
// is reached, so the maps stay bounded however many hosts and images come.
func (n *noiseCounter) capKey(k noiseKey) noiseKey {
	if _, ok := n.total[k]; ok || len(n.total) < n.maxKeys {
		return k
	}
	return noiseKey{host: otherImage, image: otherImage}
}

func tally(m map[noiseKey]*noiseTally, k noiseKey) *noiseTally {
	t := m[k]
	if t == nil {
		t = &noiseTally{}
		m[k] = t
	}
	return t
}

func (n *noiseCounter) count(k noiseKey, duplicate bool) {
	for _, t := range []*noiseTally{tally(n.total, k), tally(n.period, k)} {
		if duplicate {
			t.duplicates++
		} else {
			t.closes++
		}
	}
}

func sortedCounts(m map[noiseKey]*noiseTally) []NoiseCount {
	out := make([]NoiseCount, 0, len(m))
	for k, t := range m {
		out = append(out, NoiseCount{Host: k.host, Image: k.image, ObjectType: k.objectType,
			Duplicates: t.duplicates, Closes: t.closes})
	}
	slices.SortFunc(out, func(a, b NoiseCount) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Image, b.Image),
			cmp.Compare(a.ObjectType, b.ObjectType))
	})
	return out
}

// summaries turns the current period into Outputs and starts a new period.
func summaries[P any](n *noiseCounter, mode NoiseMode, end time.Time) []Output[P] {
	if len(n.period) == 0 {
		n.periodStart = end
		return nil
	}
	counts := sortedCounts(n.period)
	out := make([]Output[P], 0, len(counts))
	for _, nc := range counts {
		s := &NoiseSummary{NoiseCount: nc, Mode: mode, Start: n.periodStart, End: end}
		out = append(out, Output[P]{Host: nc.Host, Export: true, Summary: s, Attributes: s.attributes()})
	}
	clear(n.period)
	n.periodStart = end
	return out
}

// Attribute keys of summary Outputs.
const (
	AttrNoiseDuplicates = "winlog.handle.noise.duplicates"
	AttrNoiseCloses     = "winlog.handle.noise.closes"
	AttrNoiseMode       = "winlog.handle.noise.mode"
	AttrNoiseStart      = "winlog.handle.noise.period.start"
	AttrNoiseEnd        = "winlog.handle.noise.period.end"
	AttrHostName        = "host.name"
)

func (s *NoiseSummary) attributes() []record.KV {
	a := attrs{list: make([]record.KV, 0, 8)}
	a.str(AttrHostName, s.Host)
	a.str(AttrProcessPath, s.Image)
	a.str(AttrObjectType, s.ObjectType)
	a.add(AttrNoiseDuplicates, int64(s.Duplicates))
	a.add(AttrNoiseCloses, int64(s.Closes))
	a.add(AttrNoiseMode, s.Mode.String())
	if !s.Start.IsZero() {
		a.add(AttrNoiseStart, s.Start.UTC().Format(time.RFC3339Nano))
	}
	a.add(AttrNoiseEnd, s.End.UTC().Format(time.RFC3339Nano))
	return a.list
}
