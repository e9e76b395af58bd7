package eventfile_test

import (
	"fmt"
	"strings"

	"wefgate/wef/event"
	"wefgate/wef/eventfile"
)

func ExampleRead() {
	line := `{"EventID":4690,"Hostname":"ws-7.corp.example.com","Channel":"Security","Keywords":"0x8020000000000000","TimeCreated":"2020-10-21T09:40:43.571Z","RecordNumber":42,"SubjectUserName":"j.doe","SourceHandleId":"0xb54","SourceProcessId":"0xf40","TargetHandleId":"0x3058","TargetProcessId":"0x4"}`
	events, err := eventfile.Read(strings.NewReader(line), eventfile.FormatAuto)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(events[0])
	// Output:
	// <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4690</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2020-10-21T09:40:43.5710000Z'/><EventRecordID>42</EventRecordID><Correlation/><Channel>Security</Channel><Computer>ws-7.corp.example.com</Computer><Security/></System><EventData><Data Name='SubjectUserName'>j.doe</Data><Data Name='SourceHandleId'>0xb54</Data><Data Name='SourceProcessId'>0xf40</Data><Data Name='TargetHandleId'>0x3058</Data><Data Name='TargetProcessId'>0x4</Data></EventData></Event>
}

func ExampleGenerate() {
	for _, x := range eventfile.Generate(5, "ws-7.corp.example.com", 1) {
		ev := event.Parse([]byte(x))
		fmt.Println(ev.RecordID, ev.EventID, ev.Computer)
	}
	// Output:
	// 730215 4624 ws-7.corp.example.com
	// 730216 4688 ws-7.corp.example.com
	// 730217 4624 ws-7.corp.example.com
	// 730218 4688 ws-7.corp.example.com
	// 730219 4656 ws-7.corp.example.com
}
