package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestLoadTargetArguments(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-target", "https://localhost:1/wsman/SubscriptionManager/WEC"}, "needs -target-pki"},
		{[]string{"-target", "https://localhost:1/wsman/SubscriptionManager/WEC", "-target-pki", "p", "-floor"}, "no -floor"},
		{[]string{"-target", "https://localhost:1/wsman/SubscriptionManager/WEC", "-target-pki", "p"}, "needs -server-pids"},
		{[]string{"-target", "https://localhost:1/wsman/SubscriptionManager/WEC", "-target-pki", "p", "-server-pids", "1,x"}, `"x" is not a PID`},
	}
	for _, c := range cases {
		err := cmdLoad(context.Background(), c.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
