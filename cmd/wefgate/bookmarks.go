package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"wefgate/config"
	"wefgate/subscriptions"
)

// cmdBookmarks lists the stored bookmarks, or sets one by hand (also
// backwards: to have a host send again events that a node lost for good
// had acknowledged but not exported).
func cmdBookmarks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bookmarks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	host := fs.String("host", "", "only this host (its authenticated identity: certificate CN or Kerberos principal)")
	sub := fs.String("subscription", "", "only this subscription (name or id)")
	set := fs.String("set", "", "store this <BookmarkList> for -host and -subscription, also backwards")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	names := map[string]string{} // subscription id -> name
	subID := ""
	for _, d := range cfg.Subscriptions {
		names[strings.ToUpper(d.ID)] = d.Name
		if *sub != "" && (strings.EqualFold(d.Name, *sub) || strings.EqualFold(d.ID, *sub)) {
			subID = d.ID
		}
	}
	if *sub != "" && subID == "" {
		return fmt.Errorf("bookmarks: no subscription %q in the configuration", *sub)
	}
	if *set != "" {
		if *host == "" || subID == "" {
			return errors.New("bookmarks: -set needs -host and -subscription")
		}
		pos, err := subscriptions.BookmarkPositions(*set)
		if err != nil {
			return fmt.Errorf("bookmarks: -set is not a <BookmarkList> with a RecordId per channel: %w", err)
		}
		if len(pos) == 0 {
			return errors.New("bookmarks: -set is not a <BookmarkList> with a RecordId per channel: it names no channel")
		}
	}
	store, err := openAdminStore(ctx, cfg, *set != "")
	if errors.Is(err, subscriptions.ErrStoreLocked) {
		return fmt.Errorf("bookmarks: %w; stop it first (bbolt allows one process; with state.backend: postgres this works while the nodes run)", err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	if *set != "" {
		identity, err := knownIdentity(ctx, store, *host, subID)
		if err != nil {
			return err
		}
		*host = identity
		if err := store.SetBookmark(ctx, *host, subID, *set); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bookmark of %s on %s set; the host resends from there at its next enumeration\n", *host, names[strings.ToUpper(subID)])
		return nil
	}
	all, err := store.Bookmarks(ctx)
	if err != nil {
		return err
	}
	var out []subscriptions.BookmarkState
	for _, b := range all {
		if (*host == "" || strings.EqualFold(b.Identity, *host)) && (subID == "" || strings.EqualFold(b.SubscriptionID, subID)) {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Identity != out[j].Identity {
			return out[i].Identity < out[j].Identity
		}
		return out[i].SubscriptionID < out[j].SubscriptionID
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSUBSCRIPTION\tNODE\tUPDATED\tRECORD IDS")
	for _, b := range out {
		name := names[strings.ToUpper(b.SubscriptionID)]
		if name == "" {
			name = b.SubscriptionID
		}
		updated := ""
		if !b.Updated.IsZero() {
			updated = ago(b.Updated)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Identity, name, b.Node, updated, positionsText(b.Bookmark))
	}
	return tw.Flush()
}

// adminStore is a state backend opened by an administration command.
type adminStore interface {
	subscriptions.Store
	subscriptions.BookmarkAdmin
}

// openAdminStore opens the state store of cfg for a command beside the
// service: PostgreSQL is shared by every node and usable while they run;
// bbolt allows one process, and is opened read-only unless write.
func openAdminStore(ctx context.Context, cfg *config.Config, write bool) (adminStore, error) {
	if cfg.State.Backend == subscriptions.BackendPostgres {
		return subscriptions.OpenPostgres(ctx, cfg.State.Postgres)
	}
	open := subscriptions.OpenBoltReadOnly
	if write {
		open = subscriptions.OpenBolt
	}
	s, err := open(cfg.StateFile())
	if err != nil {
		return nil, err
	}
	return s, nil
}

// positionsText shows a BookmarkList as channel=record id pairs.
func positionsText(bookmark string) string {
	pos, err := subscriptions.BookmarkPositions(bookmark)
	if err != nil || len(pos) == 0 {
		return bookmark
	}
	parts := make([]string, 0, len(pos))
	for ch, id := range pos {
		parts = append(parts, fmt.Sprintf("%s=%d", ch, id))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// knownIdentity returns the stored spelling of host's identity on the
// subscription. A bookmark set for an identity no host uses (a typo, the
// event's Computer instead of the authenticated identity, another case of
// a Kerberos principal) would never be read, and the command would report
// success for nothing.
func knownIdentity(ctx context.Context, store subscriptions.BookmarkAdmin, host, subID string) (string, error) {
	all, err := store.Bookmarks(ctx)
	if err != nil {
		return "", err
	}
	var same []string
	for _, b := range all {
		if !strings.EqualFold(b.SubscriptionID, subID) {
			continue
		}
		if b.Identity == host {
			return host, nil
		}
		if strings.EqualFold(b.Identity, host) {
			same = append(same, b.Identity)
		}
	}
	if len(same) == 1 {
		return same[0], nil
	}
	return "", fmt.Errorf("bookmarks: no bookmark of %q on this subscription to move: give the host's identity as 'wefgate bookmarks' lists it (certificate name or Kerberos principal)", host)
}
