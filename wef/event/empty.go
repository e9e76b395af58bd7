package event

// ContentFree reports whether nothing at all could be read from the event:
// no System field, no EventData, UserData or rendering. Such an element
// carries nothing to export (every one would map to the same record), so
// the endpoint counts and drops it rather than keep it like other damaged
// events.
func (e *Event) ContentFree() bool {
	return e.EventID == 0 && !e.HasRecordID && e.Provider == (Provider{}) && e.Channel == "" &&
		e.Computer == "" && e.SystemTime == "" && e.KeywordsRaw == "" && len(e.EventData) == 0 &&
		e.UserData == "" && e.Binary == "" && e.Rendering == nil
}
