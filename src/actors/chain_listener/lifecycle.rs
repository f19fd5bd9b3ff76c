//! The listener's life as an actor: the first connection at once, later ones after the
//! backoff (a reorg's reconnect at once), the checkpoint saved every second while dirty and on
//! stop, and the connection task ended on every stop or supervised restart.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Supervised};
use tracing::warn;

use super::{ChainListener, SAVE_INTERVAL};

impl Actor for ChainListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The first connection and a reorg's reconnect are immediate; others back off.
        let delay = if self.restarted && !std::mem::take(&mut self.reconnect_now) {
            self.backoff.next_delay()
        } else {
            Duration::ZERO
        };
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
        ctx.run_interval(SAVE_INTERVAL, |act, _| {
            if act.dirty {
                act.save();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.sink.status.set_connected(false);
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
        if self.dirty {
            self.save();
        }
    }
}

impl Supervised for ChainListener {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarted = true;
        self.sink.status.set_connected(false);
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
        warn!(
            attempt = self.backoff.attempt(),
            "Chain listener restarting."
        );
    }
}
