package handles

import (
	"time"

	"wefgate/record"
)

// output builds p's Output: the export decision, noise accounting and the
// enrichment attributes.
func (c *Correlator[P]) output(p *pending[P]) Output[P] {
	o := Output[P]{Host: p.host.name, Event: p.ev, Pos: p.pos}
	switch p.kind {
	case KindHandleDuplicated:
		c.completeImages(p)
		flags := c.duplicateFlags(p)
		noise := c.decideNoise(p, flags)
		c.countStatus(p.status())
		o.Export = !(noise && c.cfg.Noise.Mode == NoiseDrop)
		if o.Export {
			o.Attributes = c.duplicateAttributes(p, flags, noise)
		}
	case KindHandleClosed, KindObjectDeleted:
		noise := p.kind == KindHandleClosed && p.link == linkDuplicate && p.entry.dup.noise
		if noise {
			c.noise.count(p.entry.dup.noiseKey, false)
		}
		c.countStatus(p.status())
		o.Export = !(noise && c.cfg.Noise.Mode == NoiseDrop) &&
			!(p.kind == KindObjectDeleted && !c.cfg.exportObjectDeleted())
		if o.Export {
			o.Attributes = c.closeAttributes(p, noise)
		}
	case KindOther:
		o.Export = true
	default:
		o.Export = c.cfg.ExportHelperEvents
		if o.Export {
			o.Attributes = helperAttributes(p)
		}
	}
	if !o.Export && (p.kind == KindHandleDuplicated || p.kind == KindHandleClosed) {
		c.stats.NoiseDropped++
	}
	return o
}

func (p *pending[P]) status() string {
	switch {
	case p.obj != nil:
		return StatusMatched
	case p.link == linkDuplicate:
		return StatusPartial
	}
	return StatusUnmatched
}

func (c *Correlator[P]) countStatus(status string) {
	switch status {
	case StatusMatched:
		c.stats.Matched++
	case StatusPartial:
		c.stats.Partial++
	default:
		c.stats.Unmatched++
	}
}

// completeImages fills the process images of a 4690 that were unknown when
// it arrived, from its source open or from processes seen since.
func (c *Correlator[P]) completeImages(p *pending[P]) {
	q := p.host
	if p.image == "" && p.obj != nil {
		p.image = p.obj.image
	}
	if src, ok := dataHex(p.ev, "SourceProcessId"); ok && p.image == "" {
		if e := q.procs[src]; e != nil {
			p.image = e.image
			p.parentPID, p.hasParent, p.parentImage = e.parentPID, e.hasParent, e.parentImage
		}
	}
	if tgt, ok := dataHex(p.ev, "TargetProcessId"); ok && p.targetImage == "" && tgt != systemPID {
		if e := q.procs[tgt]; e != nil {
			p.targetImage = e.image
		}
	}
}

func (c *Correlator[P]) duplicateFlags(p *pending[P]) []any {
	var flags []any
	flags = objectFlags(p.obj, flags)
	if tgt, ok := dataHex(p.ev, "TargetProcessId"); ok && tgt != systemPID {
		flags = append(flags, FlagDuplicateIntoUserProcess)
	}
	if isLsassImage(p.image) {
		flags = append(flags, FlagDuplicateFromLsass)
	}
	return flags
}

// decideNoise decides, and counts, whether a 4690 is an audit by-product to
// tag or drop; its copy's close inherits the decision.
func (c *Correlator[P]) decideNoise(p *pending[P], flags []any) bool {
	if c.cfg.Noise.Mode == NoiseOff || p.obj == nil || len(flags) > 0 || p.entry == nil {
		return false
	}
	if tgt, _ := dataHex(p.ev, "TargetProcessId"); tgt != systemPID {
		return false
	}
	for _, r := range c.cfg.Noise.Rules {
		if r.matches(p.obj.objectType, p.obj.objectName, p.image) {
			key := c.noise.capKey(noiseKey{host: p.host.name, image: p.image, objectType: p.obj.objectType})
			p.entry.dup.noise, p.entry.dup.noiseKey = true, key
			c.noise.count(key, true)
			return true
		}
	}
	return false
}

func (c *Correlator[P]) duplicateAttributes(p *pending[P], flags []any, noise bool) []record.KV {
	ev := p.ev
	a := attrs{list: make([]record.KV, 0, 24)}
	a.add(AttrStatus, p.status())
	if p.image != "" {
		a.add(AttrProcessPath, p.image)
		a.add(AttrProcessName, baseName(p.image))
	}
	if p.hasParent {
		a.num(AttrParentPID, p.parentPID)
		a.str(AttrParentPath, p.parentImage)
	}
	if h, ok := dataHex(ev, "SourceHandleId"); ok {
		a.num(AttrSourceHandleID, h)
	}
	if h, ok := dataHex(ev, "TargetHandleId"); ok {
		a.num(AttrTargetHandleID, h)
	}
	if tgt, ok := dataHex(ev, "TargetProcessId"); ok {
		a.num(AttrTargetPID, tgt)
		switch {
		case tgt == systemPID:
			a.add(AttrTargetName, "System")
		case p.targetImage != "":
			a.add(AttrTargetPath, p.targetImage)
			a.add(AttrTargetName, baseName(p.targetImage))
		}
		a.add(AttrTargetIsSystem, tgt == systemPID)
	}
	if p.obj != nil {
		a.object(p.obj)
	}
	a.subject(ev)
	a.flags(flags)
	if noise {
		a.add(AttrNoise, true)
	}
	return a.list
}

func (c *Correlator[P]) closeAttributes(p *pending[P], noise bool) []record.KV {
	ev := p.ev
	a := attrs{list: make([]record.KV, 0, 20)}
	a.add(AttrStatus, p.status())
	switch p.link {
	case linkOpen:
		a.add(AttrLink, LinkOpen)
	case linkDuplicate:
		a.add(AttrLink, LinkDuplicate)
	}
	if image := dataString(ev, "ProcessName"); image != "" && image != "-" {
		a.add(AttrProcessName, baseName(image))
	}
	if h, ok := dataHex(ev, "HandleId"); ok {
		a.num(AttrHandleID, h)
	}
	if p.obj != nil {
		a.object(p.obj)
		a.duration(p.obj, ev.TimeCreated)
	}
	if p.link == linkDuplicate {
		d := p.entry.dup
		a.num(AttrSourceHandleID, d.source.handle)
		a.num(AttrTargetPID, d.targetPID)
		a.add(AttrTargetIsSystem, d.targetPID == systemPID)
		if d.hasRecordID {
			a.num(AttrDuplicateRecordID, d.recordID)
		}
	}
	a.subject(ev)
	a.flags(objectFlags(p.obj, nil))
	if noise {
		a.add(AttrNoise, true)
	}
	return a.list
}

// helperAttributes decodes what a helper event carries itself, for
// deployments that export them.
func helperAttributes[P any](p *pending[P]) []record.KV {
	ev := p.ev
	a := attrs{list: make([]record.KV, 0, 16)}
	switch p.kind {
	case KindHandleRequested, KindDirectoryHandleRequested, KindObjectAccessed:
		obj := newObject(ev, true)
		if p.kind == KindObjectAccessed {
			// Decode the right used; there is no open time on a 4663.
			obj.opened, obj.hasRecordID = time.Time{}, false
		}
		if h, ok := dataHex(ev, "HandleId"); ok {
			a.num(AttrHandleID, h)
		}
		a.object(obj)
		a.subject(ev)
		a.flags(objectFlags(obj, nil))
	case KindProcessCreated:
		if image := dataString(ev, "NewProcessName"); image != "" && image != "-" {
			a.add(AttrProcessName, baseName(image))
		}
		if parent, ok := dataHex(ev, "ProcessId"); ok {
			a.num(AttrParentPID, parent)
		}
		a.str(AttrParentPath, dataString(ev, "ParentProcessName"))
		a.subject(ev)
	default:
		if image := dataString(ev, "ProcessName"); image != "" && image != "-" {
			a.add(AttrProcessName, baseName(image))
		}
		a.subject(ev)
	}
	return a.list
}
