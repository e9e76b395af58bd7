-- Host state shared by every wefgate node. Keys are normalised the way
-- the bbolt store normalises them: identity lower-cased, subscription id
-- upper-cased.
CREATE TABLE bookmarks (
    identity_key    text        NOT NULL,
    subscription_id text        NOT NULL,
    bookmark        text        NOT NULL,
    -- record id per lower-cased channel, from the BookmarkList; a commit
    -- whose positions are lower on any channel is stale and not written.
    positions       jsonb       NOT NULL DEFAULT '{}',
    node            text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (identity_key, subscription_id)
);

CREATE TABLE hosts (
    identity_key    text        NOT NULL,
    subscription_key text       NOT NULL,
    identity        text        NOT NULL,
    subscription_id text        NOT NULL,
    subscription    text        NOT NULL DEFAULT '',
    machine_id      text        NOT NULL DEFAULT '',
    address         text        NOT NULL DEFAULT '',
    node            text        NOT NULL DEFAULT '',
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    last_heartbeat  timestamptz,
    last_event      timestamptz,
    events          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (identity_key, subscription_key)
);
