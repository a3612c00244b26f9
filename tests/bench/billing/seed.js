// Seeds the local Stripe for tests/bench/billing/reconcile.sh: N customers, each with one
// subscription to the metered plan PLAN and one usage record (the month's total, TOTAL,
// at timestamp TS) on its item. Prints "tenant<TAB>customer<TAB>subscription<TAB>item" lines.
//   node seed.js BASE_URL KEY N PLAN TOTAL TS
"use strict";
const http = require("http");
const [base, key, n, plan, total, ts] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const u = new URL(base);

function post(path, form) {
    const body = new URLSearchParams(form).toString();
    return new Promise((resolve, reject) => {
        const req = http.request({ host: u.hostname, port: u.port, path, method: "POST", agent,
            headers: { "Authorization": `Bearer ${key}`,
                       "Content-Type": "application/x-www-form-urlencoded",
                       "Content-Length": Buffer.byteLength(body) } }, res => {
            let d = "";
            res.on("data", c => { d += c; });
            res.on("end", () => res.statusCode === 200 ? resolve(JSON.parse(d))
                                                       : reject(new Error(`${path}: ${res.statusCode} ${d}`)));
        });
        req.on("error", reject);
        req.end(body);
    });
}

async function one(i) {
    const tenant = "t" + String(i).padStart(4, "0");
    const cus = await post("/v1/customers", { email: `ops@${tenant}.example` });
    const sub = await post("/v1/subscriptions", { customer: cus.id, "items[0][plan]": plan,
                                                  "metadata[tenant-id]": tenant });
    const si = sub.items.data[0].id;
    await post(`/v1/subscription_items/${si}/usage_records`,
               { quantity: total, timestamp: ts, action: "increment" });
    return `${tenant}\t${cus.id}\t${sub.id}\t${si}`;
}

(async () => {
    const out = [];
    for (let i = 1; i <= +n; i += 8) {
        const batch = [];
        for (let j = i; j < i + 8 && j <= +n; j++) batch.push(one(j));
        out.push(...await Promise.all(batch));
    }
    process.stdout.write(out.join("\n") + "\n");
    agent.destroy();
})().catch(e => { console.error(e.message); process.exit(1); });
