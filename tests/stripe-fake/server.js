#!/usr/bin/env node
// The local Stripe for tests and development (issue 11, item 10).
//
//   node tests/stripe-fake/server.js --port P [--port-file F] [--webhook-url URL]
//        [--webhook-secret whsec_...]
//   (or STRIPE_FAKE_PORT, STRIPE_FAKE_WEBHOOK_URL, STRIPE_FAKE_WEBHOOK_SECRET; port 0 = any)
//
// stripe-stateful-mock (npm, pinned in package.json) answers Stripe's core API; this server,
// bound to 127.0.0.1 only, adds in front of it what the Tenant Billing Server needs and the
// mock lacks (see /work/shared/reference/stripe-billing.md §1):
//   POST /v1/subscriptions                 the mock's, plus items[i][price] without a plan
//                                          (a plan with the price's id is made) and the
//                                          customer.subscription.created event
//   POST /v1/subscriptions/:id             status (an extension, for tests), items,
//                                          metadata (merged as Stripe does), cancel_at_period_end
//   DELETE /v1/subscriptions/:id           cancels: status canceled, customer.subscription.deleted
//   POST /v1/subscription_items/:id/usage_records          (legacy usage records)
//   GET  /v1/subscription_items/:id/usage_record_summaries (one summary per calendar month)
//   POST /v1/billing/meter_events          (identifier deduplicated)
//   GET  /v1/invoices, GET /v1/invoices/:id, GET /v1/events, GET /v1/events/:id
// and test control under /_test/ (no key needed; JSON bodies):
//   POST /_test/subscriptions/:id/status {"status":"past_due"}  sets it, emits the event
//   POST /_test/invoices {"subscription":"sub_…","type":"invoice.paid"|"invoice.payment_failed"}
//   POST /_test/events {"type","object","previous_attributes", options...}  any event
//        options: "secret" (sign with another), "timestamp" (unix s), "age" (s in the past),
//        "no_signature", "signature" (the header as is), "duplicate" (deliver twice),
//        "id" (the event id: a replay of an earlier event), "url" (another receiver),
//        "deliver": false (only store it)
//   POST /_test/faults {"method":"POST","path":"regex","count":N,"status":429|500|...,
//        "should_retry":true|false (header Stripe-Should-Retry; absent: none),
//        "retry_after":S, "delay_ms":D, "after":true (execute, then answer the fault: a lost
//        answer)}  the next N matching requests; DELETE /_test/faults clears them
//   GET  /_test/requests[?method=&path=regex]  every request received (no /_test/ ones),
//        oldest first: method, path, query, body, idempotency_key, status, replayed, fault
//   DELETE /_test/requests                     forgets them
//   GET  /_test/usage_records[?subscription_item=]   every stored usage record
//   DELETE /_test/usage_records/:id                  deletes one (reconcile must notice); its
//                                                    key is forgotten: a resend makes it again
//   GET  /_test/meter_events                         every stored meter event
//   GET  /_test/deliveries                           every webhook delivery and its answer
//   POST /_test/config {"webhook_url","webhook_secret"}
// Injected faults come before the idempotency layer (as Stripe's rate limiter does), so a
// fault's answer is never replayed; "after" faults run the request first, so its stored
// answer is what a retry with the same key gets.
"use strict";

const http = require("http");
const crypto = require("crypto");
const fs = require("fs");
const express = require("express");
const bodyParser = require("body-parser");
const log = require("loglevel");

log.setLevel(process.env.LOG_LEVEL || "silent");

const mock = require("stripe-stateful-mock");
const { auth } = require("stripe-stateful-mock/dist/api/auth");
const { idempotencyRoute } = require("stripe-stateful-mock/dist/api/idempotency");
const { RestError } = require("stripe-stateful-mock/dist/api/RestError");
const { subscriptions } = require("stripe-stateful-mock/dist/api/subscriptions");
const { plans } = require("stripe-stateful-mock/dist/api/plans");
const { prices } = require("stripe-stateful-mock/dist/api/prices");
const { getRequestAccountId } = require("stripe-stateful-mock/dist/routes");

// ---- options --------------------------------------------------------------------------------

function argValue(name, env, dflt) {
    const i = process.argv.indexOf(name);
    if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
    if (process.env[env] !== undefined && process.env[env] !== "") return process.env[env];
    return dflt;
}

const config = {
    port: +argValue("--port", "STRIPE_FAKE_PORT", "12111"),
    portFile: argValue("--port-file", "STRIPE_FAKE_PORT_FILE", ""),
    webhookUrl: argValue("--webhook-url", "STRIPE_FAKE_WEBHOOK_URL", ""),
    webhookSecret: argValue("--webhook-secret", "STRIPE_FAKE_WEBHOOK_SECRET", ""),
};
const API_VERSION = "2020-08-27";

// ---- state ----------------------------------------------------------------------------------

const requests = [];          // the request log
let faults = [];              // pending fault injections
const usageRecords = [];      // {id, object, quantity, timestamp, action, subscription_item, livemode}
const meterEvents = [];
const meterIdentifiers = new Set();
// Keys of usage records deleted through /_test/: Stripe has "forgotten" them, so a resend
// with the same key makes the record again (what reconcile --fix relies on).
const forgottenKeys = new Set();
let forgottenSeq = 0;
const invoices = [];          // newest last
const events = [];            // newest last
const deliveries = [];

const now = () => Math.floor(Date.now() / 1000);
function randomId(prefix, n) {
    const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const bytes = crypto.randomBytes(n || 14);
    let s = prefix;
    for (const b of bytes) s += chars[b % chars.length];
    return s;
}

function stripeError(status, type, message, extra) {
    return new RestError(status, Object.assign({ type, message }, extra || {}));
}
function missing(kind, id, param) {
    return stripeError(404, "invalid_request_error", `No such ${kind}: '${id}'`,
        { code: "resource_missing", param: param || "id" });
}

// A list answer as Stripe pages it: newest first, limit (default 10, at most 100),
// starting_after / ending_before by id.
function listOf(data, query, url) {
    let limit = query.limit === undefined ? 10 : parseInt(query.limit, 10);
    if (!(limit >= 1 && limit <= 100)) {
        throw stripeError(400, "invalid_request_error",
            "Invalid integer: " + query.limit, { param: "limit" });
    }
    let from = 0;
    if (query.starting_after) {
        const i = data.findIndex(o => o.id === query.starting_after);
        if (i < 0) throw missing("object", query.starting_after, "starting_after");
        from = i + 1;
    }
    let to = data.length;
    if (query.ending_before) {
        const i = data.findIndex(o => o.id === query.ending_before);
        if (i < 0) throw missing("object", query.ending_before, "ending_before");
        to = i;
        from = Math.max(0, to - limit);
    }
    const page = data.slice(from, Math.min(to, from + limit));
    return { object: "list", url, has_more: from + page.length < to, data: page };
}

// ---- webhooks -------------------------------------------------------------------------------

// Stripe's scheme: Stripe-Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")).
function sign(secret, t, body) {
    return crypto.createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
}

function makeEvent(type, object, previous, id) {
    const ev = {
        id: id || randomId("evt_", 24),
        object: "event",
        api_version: API_VERSION,
        created: now(),
        data: previous ? { object, previous_attributes: previous } : { object },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
    };
    return ev;
}

function postOnce(url, body, header) {
    return new Promise(resolve => {
        let u;
        try {
            u = new URL(url);
        } catch (e) {
            resolve({ status: 0, error: "bad webhook url" });
            return;
        }
        const headers = { "Content-Type": "application/json; charset=utf-8",
                          "Content-Length": Buffer.byteLength(body),
                          "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" };
        if (header !== null) headers["Stripe-Signature"] = header;
        const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search,
                                   method: "POST", headers, timeout: 10000 }, res => {
            let data = "";
            res.setEncoding("utf8");
            res.on("data", c => { data += c; });
            res.on("end", () => resolve({ status: res.statusCode, body: data }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", e => resolve({ status: 0, error: e.message }));
        req.end(body);
    });
}

// Stores the event (GET /v1/events lists it) and delivers it signed; resolves with the
// deliveries' answers.
async function emit(ev, opts) {
    opts = opts || {};
    if (!events.some(e => e.id === ev.id)) events.push(ev);
    const url = opts.url || config.webhookUrl;
    if (opts.deliver === false || !url) return [];
    const body = JSON.stringify(ev);
    const out = [];
    const times = opts.duplicate ? 2 : 1;
    for (let i = 0; i < times; i++) {
        let t = opts.timestamp !== undefined ? +opts.timestamp : now() - (+opts.age || 0);
        let header;
        if (opts.no_signature) header = null;
        else if (opts.signature !== undefined) header = String(opts.signature);
        else header = `t=${t},v1=${sign(opts.secret || config.webhookSecret, t, body)}`;
        const r = await postOnce(url, body, header);
        const d = { event: ev.id, type: ev.type, url, status: r.status, body: r.body, error: r.error };
        deliveries.push(d);
        out.push(d);
    }
    return out;
}

// Events from the public API are delivered after the answer, as Stripe does.
function emitLater(ev) {
    setImmediate(() => { emit(ev).catch(() => {}); });
}

// ---- subscriptions --------------------------------------------------------------------------

// The mock builds every item from items[i][plan]: an item with only a price gets a plan with
// the price's id (made once from the price).
function planForPrice(accountId, priceId) {
    const price = prices.retrieve(accountId, priceId, "items[0][price]");
    try {
        return plans.retrieve(accountId, priceId, "plan").id;
    } catch (e) {
        const r = price.recurring || {};
        return plans.create(accountId, {
            id: priceId, product: price.product, currency: price.currency,
            amount: price.unit_amount || 0, interval: r.interval || "month",
            interval_count: r.interval_count || 1, usage_type: r.usage_type || "licensed",
            aggregate_usage: r.aggregate_usage || undefined, metadata: price.metadata,
            nickname: price.nickname || undefined,
        }).id;
    }
}

function normalizeItems(accountId, items) {
    if (!items) return items;
    const list = Array.isArray(items) ? items : Object.values(items);
    for (const it of list) {
        if (it && it.price && !it.plan) it.plan = planForPrice(accountId, it.price);
    }
    return list;
}

// Items added by POST /v1/subscriptions/:id (the mock keeps its items privately).
const extraItems = new Map();
function findItem(acct, id, param) {
    if (extraItems.has(id)) return extraItems.get(id);
    return subscriptions.retrieveItem(acct, id, param);
}

function snapshot(o) { return JSON.parse(JSON.stringify(o)); }

function setStatus(sub, status) {
    const previous = { status: sub.status };
    sub.status = status;
    if (status === "canceled") {
        sub.canceled_at = sub.canceled_at || now();
        sub.ended_at = sub.ended_at || now();
    }
    return previous;
}

function statusEvent(sub, previous) {
    const type = sub.status === "canceled" ? "customer.subscription.deleted"
                                           : "customer.subscription.updated";
    return makeEvent(type, snapshot(sub), sub.status === "canceled" ? null : previous);
}

// ---- invoices -------------------------------------------------------------------------------

function invoiceFor(accountId, sub, paid) {
    let amount = 0;
    for (const it of sub.items.data) {
        if (it.plan && it.plan.usage_type !== "metered") amount += (it.plan.amount || 0) * (it.quantity || 1);
    }
    const inv = {
        id: randomId("in_", 24), object: "invoice", amount_due: amount,
        amount_paid: paid ? amount : 0, amount_remaining: paid ? 0 : amount,
        attempt_count: 1, attempted: true, billing_reason: "subscription_cycle",
        collection_method: "charge_automatically", created: now(),
        currency: (sub.items.data[0] && sub.items.data[0].plan && sub.items.data[0].plan.currency) || "usd",
        customer: typeof sub.customer === "string" ? sub.customer : sub.customer.id,
        livemode: false, next_payment_attempt: paid ? null : now() + 3 * 86400,
        paid: !!paid, period_start: sub.current_period_start, period_end: sub.current_period_end,
        status: paid ? "paid" : "open", subscription: sub.id,
    };
    invoices.push(inv);
    return inv;
}

// ---- usage ----------------------------------------------------------------------------------

function intParam(body, name, required) {
    const v = body[name];
    if (v === undefined || v === "") {
        if (required) throw stripeError(400, "invalid_request_error", `Missing required param: ${name}.`, { param: name });
        return undefined;
    }
    if (typeof v !== "string" || !/^-?[0-9]+$/.test(v)) {
        throw stripeError(400, "invalid_request_error", `Invalid integer: ${v}`, { param: name });
    }
    return parseInt(v, 10);
}

// Usage of records in [start, end): at equal timestamps increment adds and set overwrites;
// the aggregate is the plan's aggregate_usage (sum by default).
function totalUsage(records, aggregate) {
    const at = new Map();
    for (const r of records.slice().sort((a, b) => a.seq - b.seq)) {
        const prev = at.get(r.timestamp) || 0;
        at.set(r.timestamp, r.action === "set" ? r.quantity : prev + r.quantity);
    }
    const ts = [...at.keys()].sort((a, b) => a - b);
    if (ts.length === 0) return 0;
    switch (aggregate) {
    case "last_during_period": case "last_ever": return at.get(ts[ts.length - 1]);
    case "max": return Math.max(...at.values());
    default: return [...at.values()].reduce((a, b) => a + b, 0);
    }
}

function monthOf(t) {
    const d = new Date(t * 1000);
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
    const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
    return { start, end };
}

// ---- the app --------------------------------------------------------------------------------

const app = express();
app.disable("x-powered-by");

// The request log (not of /_test/): what was asked and answered. The key itself is never
// kept, only whether one was sent.
app.use((req, res, next) => {
    if (req.path.startsWith("/_test/")) return next();
    const entry = { seq: requests.length + 1, time: Date.now() / 1000, method: req.method,
                    path: req.path, query: req.query, body: null,
                    idempotency_key: req.header("idempotency-key") || null,
                    auth: (req.header("authorization") || "").split(" ")[0] || null, status: null, replayed: false,
                    fault: null };
    requests.push(entry);
    req.lwEntry = entry;
    res.on("finish", () => {
        entry.status = res.statusCode;
        entry.replayed = res.getHeader("idempotent-replayed") === "true";
        if (req.body !== undefined && entry.body === null) entry.body = req.body;
    });
    next();
});

app.use(bodyParser.urlencoded({ extended: true }));

// Fault injection: the next N requests matching method and path.
app.use((req, res, next) => {
    if (req.path.startsWith("/_test/")) return next();
    const f = faults.find(x => x.count > 0 && (!x.method || x.method === req.method) && x.re.test(req.path));
    if (!f) return next();
    f.count--;
    if (req.lwEntry) req.lwEntry.fault = { status: f.status || null, delay_ms: f.delay_ms || 0, after: !!f.after };
    const answer = () => {
        if (f.should_retry !== undefined) res.set("Stripe-Should-Retry", f.should_retry ? "true" : "false");
        if (f.retry_after !== undefined) res.set("Retry-After", String(f.retry_after));
        const body = f.status === 429
            ? { error: { message: "Too many requests in a period of time.", type: "rate_limit_error", code: "rate_limit" } }
            : { error: { message: "An unknown error occurred", type: "api_error" } };
        return body;
    };
    const go = () => {
        if (!f.status) return next();
        if (!f.after) {
            const body = answer();
            res.status(f.status).json(body);
            return;
        }
        // Run the request, then lose its answer: the client sees the fault.
        const realStatus = res.status.bind(res);
        const realSend = res.send.bind(res);
        let sent = false;
        res.status = () => res;
        res.send = () => {
            if (sent) return res;
            sent = true;
            res.status = realStatus;
            res.send = realSend;
            const body = answer();
            realStatus(f.status);
            return realSend(JSON.stringify(body));
        };
        next();
    };
    if (f.delay_ms) setTimeout(go, f.delay_ms); else go();
});

// The extension routes: the mock's key check and idempotency layer, on these routes only
// (the mock applies its own to what passes through).
const ext = express.Router();
const guard = [auth.authRoute, idempotencyRoute];

ext.post("/v1/subscriptions", guard, (req, res) => {
    const acct = getRequestAccountId(req);
    const params = Object.assign({}, req.body);
    params.items = normalizeItems(acct, params.items);
    const sub = subscriptions.create(acct, params);
    if (params.status) setStatus(sub, params.status);
    res.status(200).json(sub);
    emitLater(makeEvent("customer.subscription.created", snapshot(sub)));
});

ext.post("/v1/subscriptions/:id", guard, (req, res) => {
    const acct = getRequestAccountId(req);
    const sub = subscriptions.retrieve(acct, req.params.id, "id");
    const b = req.body;
    const previous = {};
    if (sub.status === "canceled") {
        throw stripeError(400, "invalid_request_error",
            "A canceled subscription can only update its cancellation_details and metadata.");
    }
    if (b.metadata && typeof b.metadata === "object") {
        previous.metadata = Object.assign({}, sub.metadata);
        for (const [k, v] of Object.entries(b.metadata)) {
            if (v === "") delete sub.metadata[k]; else sub.metadata[k] = String(v);
        }
    }
    if (b.cancel_at_period_end !== undefined) {
        previous.cancel_at_period_end = sub.cancel_at_period_end;
        sub.cancel_at_period_end = b.cancel_at_period_end === "true";
        sub.cancel_at = sub.cancel_at_period_end ? sub.current_period_end : null;
    }
    if (b.items) {
        previous.items = snapshot(sub.items);
        for (const it of normalizeItems(acct, b.items)) {
            if (it.id) {
                const i = sub.items.data.findIndex(x => x.id === it.id);
                if (i < 0) throw missing("subscription_item", it.id, "items[0][id]");
                if (it.deleted === "true") { sub.items.data.splice(i, 1); continue; }
                const item = sub.items.data[i];
                if (it.plan) {
                    item.plan = plans.retrieve(acct, it.plan, "items[0][plan]");
                    item.price = it.price ? prices.retrieve(acct, it.price, "items[0][price]") : null;
                }
                if (it.quantity) item.quantity = +it.quantity;
            } else {
                const item = {
                    object: "subscription_item", id: randomId("si_", 14), billing_thresholds: null,
                    created: now(), metadata: Object.assign({}, it.metadata || {}),
                    plan: plans.retrieve(acct, it.plan, "items[0][plan]"),
                    price: it.price ? prices.retrieve(acct, it.price, "items[0][price]") : null,
                    quantity: +it.quantity || 1, subscription: sub.id, tax_rates: null,
                };
                extraItems.set(item.id, item);
                sub.items.data.push(item);
            }
        }
    }
    if (b.status) Object.assign(previous, setStatus(sub, String(b.status)));
    res.status(200).json(sub);
    emitLater(statusEvent(sub, previous));
});

ext.delete("/v1/subscriptions/:id", guard, (req, res) => {
    const acct = getRequestAccountId(req);
    const sub = subscriptions.retrieve(acct, req.params.id, "id");
    if (sub.status === "canceled") {
        throw stripeError(400, "invalid_request_error",
            `No such subscription: '${sub.id}'`, { code: "resource_missing" });
    }
    const previous = setStatus(sub, "canceled");
    res.status(200).json(sub);
    emitLater(statusEvent(sub, previous));
});

function forget(req, res, next) {
    const k = req.header("idempotency-key");
    req.lwKey = k || null;
    if (k && forgottenKeys.has(k)) {
        forgottenKeys.delete(k);
        req.headers["idempotency-key"] = `${k}#forgotten${++forgottenSeq}`;
    }
    next();
}

ext.post("/v1/subscription_items/:id/usage_records", forget, guard, (req, res) => {
    const acct = getRequestAccountId(req);
    const item = findItem(acct, req.params.id, "subscription_item");
    const b = req.body;
    const quantity = intParam(b, "quantity", true);
    if (quantity < 0) throw stripeError(400, "invalid_request_error", "Invalid non-negative integer", { param: "quantity" });
    let timestamp = b.timestamp === "now" || b.timestamp === undefined ? now() : intParam(b, "timestamp", true);
    if (timestamp > now() + 300) {
        throw stripeError(400, "invalid_request_error",
            "Cannot create the usage record with this timestamp because timestamps must be before the current time.",
            { param: "timestamp" });
    }
    const action = b.action || "increment";
    if (action !== "increment" && action !== "set") {
        throw stripeError(400, "invalid_request_error", `Invalid action: must be one of increment or set`, { param: "action" });
    }
    const rec = { id: randomId("mbur_", 24), object: "usage_record", livemode: false, quantity,
                  subscription_item: item.id, timestamp, action };
    usageRecords.push(Object.assign({ seq: usageRecords.length + 1, idempotency_key: req.lwKey }, rec));
    res.status(200).json(rec);
});

ext.get("/v1/subscription_items/:id/usage_record_summaries", guard, (req, res) => {
    const acct = getRequestAccountId(req);
    const item = findItem(acct, req.params.id, "subscription_item");
    const recs = usageRecords.filter(r => r.subscription_item === item.id);
    const months = new Map();
    for (const r of recs) {
        const m = monthOf(r.timestamp);
        if (!months.has(m.start)) months.set(m.start, { m, recs: [] });
        months.get(m.start).recs.push(r);
    }
    if (months.size === 0) {
        const m = monthOf(now());
        months.set(m.start, { m, recs: [] });
    }
    const aggregate = (item.plan && item.plan.aggregate_usage) || "sum";
    const data = [...months.values()].sort((a, b) => b.m.start - a.m.start).map(x => ({
        id: `sis_${item.id.slice(3)}_${x.m.start}`, object: "usage_record_summary", invoice: null,
        livemode: false, period: { start: x.m.start, end: x.m.end },
        subscription_item: item.id, total_usage: totalUsage(x.recs, aggregate),
    }));
    res.status(200).json(listOf(data, req.query, `/v1/subscription_items/${item.id}/usage_record_summaries`));
});

ext.post("/v1/billing/meter_events", guard, (req, res) => {
    const b = req.body;
    if (!b.event_name) throw stripeError(400, "invalid_request_error", "Missing required param: event_name.", { param: "event_name" });
    if (!b.payload || typeof b.payload !== "object" || !b.payload.stripe_customer_id) {
        throw stripeError(400, "invalid_request_error", "Missing required param: payload[stripe_customer_id].", { param: "payload" });
    }
    intParam(b.payload, "value", true);
    const identifier = b.identifier || randomId("", 24);
    if (meterIdentifiers.has(identifier)) {
        throw stripeError(400, "invalid_request_error",
            `An event already exists with identifier ${identifier}.`, { param: "identifier" });
    }
    const timestamp = b.timestamp !== undefined ? intParam(b, "timestamp", true) : now();
    const ev = { object: "billing.meter_event", created: now(), event_name: String(b.event_name),
                 identifier, livemode: false, payload: b.payload, timestamp };
    meterIdentifiers.add(identifier);
    meterEvents.push(Object.assign({ idempotency_key: req.header("idempotency-key") || null }, ev));
    res.status(200).json(ev);
});

ext.get("/v1/invoices", guard, (req, res) => {
    let data = invoices.slice().reverse();
    for (const k of ["customer", "subscription", "status"]) {
        if (req.query[k]) data = data.filter(i => i[k] === req.query[k]);
    }
    res.status(200).json(listOf(data, req.query, "/v1/invoices"));
});
ext.get("/v1/invoices/:id", guard, (req, res) => {
    const inv = invoices.find(i => i.id === req.params.id);
    if (!inv) throw missing("invoice", req.params.id);
    res.status(200).json(inv);
});
ext.get("/v1/events", guard, (req, res) => {
    let data = events.slice().reverse();
    const types = req.query.types || (req.query.type ? [req.query.type] : null);
    if (types) {
        const re = (Array.isArray(types) ? types : [types])
            .map(t => new RegExp("^" + t.replace(/[.]/g, "\\.").replace(/\*/g, ".*") + "$"));
        data = data.filter(e => re.some(r => r.test(e.type)));
    }
    res.status(200).json(listOf(data, req.query, "/v1/events"));
});
ext.get("/v1/events/:id", guard, (req, res) => {
    const ev = events.find(e => e.id === req.params.id);
    if (!ev) throw missing("event", req.params.id);
    res.status(200).json(ev);
});

app.use(ext);

// ---- test control ---------------------------------------------------------------------------

const ctl = express.Router();
// Express 4 does not see an async handler's rejection: hand it to the error handler.
const wrap = fn => (req, res, next) => Promise.resolve().then(() => fn(req, res, next)).catch(next);
ctl.use(express.json({ limit: "1mb" }));
const ACCT = "acct_default";

ctl.post("/subscriptions/:id/status", wrap(async (req, res) => {
    const sub = subscriptions.retrieve(ACCT, req.params.id, "id");
    const status = req.body.status;
    const ok = ["incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"];
    if (!ok.includes(status)) throw stripeError(400, "invalid_request_error", `status must be one of ${ok.join(", ")}`);
    const previous = setStatus(sub, status);
    const ev = statusEvent(sub, previous);
    const d = await emit(ev, req.body);
    res.status(200).json({ subscription: sub, event: ev, deliveries: d });
}));

ctl.post("/invoices", wrap(async (req, res) => {
    const sub = subscriptions.retrieve(ACCT, req.body.subscription, "subscription");
    const type = req.body.type || "invoice.paid";
    if (type !== "invoice.paid" && type !== "invoice.payment_failed") {
        throw stripeError(400, "invalid_request_error", "type must be invoice.paid or invoice.payment_failed");
    }
    const inv = invoiceFor(ACCT, sub, type === "invoice.paid");
    const ev = makeEvent(type, snapshot(inv));
    const d = await emit(ev, req.body);
    res.status(200).json({ invoice: inv, event: ev, deliveries: d });
}));

ctl.post("/events", wrap(async (req, res) => {
    const b = req.body;
    if (!b.type) throw stripeError(400, "invalid_request_error", "type is required");
    let ev;
    const old = b.id && events.find(e => e.id === b.id);
    if (old && b.object == null) ev = old;
    else ev = makeEvent(String(b.type), b.object || {}, b.previous_attributes || null, b.id);
    const d = await emit(ev, b);
    res.status(200).json({ event: ev, deliveries: d });
}));

ctl.post("/faults", (req, res) => {
    const f = req.body;
    let re;
    try {
        re = new RegExp(f.path || ".*");
    } catch (e) {
        throw stripeError(400, "invalid_request_error", "path is no regular expression");
    }
    const fault = { method: f.method ? String(f.method).toUpperCase() : null, path: f.path || ".*", re,
                    count: f.count === undefined ? 1 : +f.count, status: f.status ? +f.status : 0,
                    should_retry: f.should_retry, retry_after: f.retry_after,
                    delay_ms: +f.delay_ms || 0, after: !!f.after };
    faults.push(fault);
    res.status(200).json({ faults: faults.map(x => Object.assign({}, x, { re: undefined })) });
});
ctl.get("/faults", (req, res) => res.status(200).json({ faults: faults.map(x => Object.assign({}, x, { re: undefined })) }));
ctl.delete("/faults", (req, res) => { faults = []; res.status(200).json({ faults: [] }); });

ctl.get("/requests", (req, res) => {
    let data = requests;
    if (req.query.method) data = data.filter(r => r.method === String(req.query.method).toUpperCase());
    if (req.query.path) {
        const re = new RegExp(String(req.query.path));
        data = data.filter(r => re.test(r.path));
    }
    res.status(200).json({ requests: data });
});
ctl.delete("/requests", (req, res) => { requests.length = 0; res.status(200).json({ requests: [] }); });

ctl.get("/usage_records", (req, res) => {
    let data = usageRecords;
    if (req.query.subscription_item) data = data.filter(r => r.subscription_item === req.query.subscription_item);
    res.status(200).json({ usage_records: data });
});
ctl.delete("/usage_records/:id", (req, res) => {
    const i = usageRecords.findIndex(r => r.id === req.params.id);
    if (i < 0) throw missing("usage_record", req.params.id);
    const [r] = usageRecords.splice(i, 1);
    if (r.idempotency_key) forgottenKeys.add(r.idempotency_key);
    res.status(200).json({ deleted: true, usage_record: r });
});
ctl.get("/meter_events", (req, res) => res.status(200).json({ meter_events: meterEvents }));
ctl.get("/deliveries", (req, res) => res.status(200).json({ deliveries }));
ctl.post("/config", (req, res) => {
    if (req.body.webhook_url !== undefined) config.webhookUrl = String(req.body.webhook_url);
    if (req.body.webhook_secret !== undefined) config.webhookSecret = String(req.body.webhook_secret);
    res.status(200).json({ webhook_url: config.webhookUrl });
});

app.use("/_test", ctl);

// Everything else: the mock.
app.use(mock.createExpressApp());

app.use((err, req, res, next) => {  // eslint-disable-line no-unused-vars
    if (err instanceof RestError) {
        res.status(err.statusCode).json({ error: err.error });
        return;
    }
    if (err && err.type === "entity.parse.failed") {
        res.status(400).json({ error: { type: "invalid_request_error", message: "Invalid JSON body" } });
        return;
    }
    res.status(500).json({ error: { type: "api_error", message: "Unexpected error: " + (err && err.message) } });
});

const server = http.createServer(app);
server.keepAliveTimeout = 30000;
server.listen(config.port, "127.0.0.1", () => {
    const port = server.address().port;
    if (config.portFile) {
        fs.writeFileSync(config.portFile + ".tmp", String(port) + "\n");
        fs.renameSync(config.portFile + ".tmp", config.portFile);
    }
    process.stdout.write(`stripe-fake listening on 127.0.0.1:${port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
        server.close(() => process.exit(0));
        setTimeout(() => process.exit(0), 500).unref();
        server.closeAllConnections();
    });
}
