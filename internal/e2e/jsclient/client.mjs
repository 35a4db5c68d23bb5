// A Matrix client on matrix-js-sdk with its Rust crypto (the WASM build of matrix-sdk-crypto), as
// Element Web runs it, driven by the end-to-end tests (internal/e2e/jsclient.go).
//
// Environment: MX_HOMESERVER (base URL), MX_USER (full user ID), MX_PASSWORD, MX_DEVICE_NAME.
// The client logs in as a new device, sets up Rust crypto with an in-memory store, and syncs.
//
// Protocol, one JSON object per line:
//   stdout: {"ready": {"device_id": ...}} once synced;
//           {"event": {...}} for every timeline event, decrypted where it could be (see eventJSON);
//           {"id": N, "result": ...} or {"id": N, "error": "..."} answering request N.
//   stdin:  {"id": N, "op": "...", ...} requests (see ops below).
// Everything else the SDK logs goes to stderr.

import { webcrypto } from "node:crypto";
import { createInterface } from "node:readline";
import { format } from "node:util";

// The SDK and its WASM log through console; stdout is the protocol's.
for (const level of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[level] = (...args) => process.stderr.write(`[${level}] ${format(...args)}\n`);
}

const sdk = await import("matrix-js-sdk");

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

const env = (name) => {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set`);
    }
    return value;
};

const baseUrl = env("MX_HOMESERVER");
const userId = env("MX_USER");
const login = await sdk.createClient({ baseUrl }).login("m.login.password", {
    identifier: { type: "m.id.user", user: userId },
    password: env("MX_PASSWORD"),
    initial_device_display_name: env("MX_DEVICE_NAME"),
});
const client = sdk.createClient({
    baseUrl,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
});
await client.initRustCrypto({ useIndexedDB: false });
const crypto = client.getCrypto();

// eventJSON describes a timeline event as the user would see it: its clear type and content when
// it was decrypted, whether it was encrypted, why decryption failed, and the shield shown next to it.
async function eventJSON(evt) {
    const out = {
        room_id: evt.getRoomId(),
        event_id: evt.getId(),
        sender: evt.getSender(),
        type: evt.getType(),
        content: evt.getContent(),
        encrypted: evt.isEncrypted(),
    };
    if (evt.isDecryptionFailure()) {
        out.decryption_failure = String(evt.decryptionFailureReason ?? "unknown");
    } else if (evt.isEncrypted()) {
        const info = await crypto.getEncryptionInfoForEvent(evt);
        if (info) {
            out.shield = { colour: info.shieldColour, reason: info.shieldReason };
        }
    }
    if (evt.isRedacted()) {
        out.redacted = true;
    }
    if (evt.getType() === "m.room.redaction") {
        out.redacts = evt.event.redacts ?? evt.getContent().redacts;
    }
    return out;
}

// Every timeline event is reported once, when it is final: at once when in the clear, after its
// decryption attempt when encrypted (a failure may be followed by a late success, reported again).
async function report(evt) {
    if (evt.isBeingDecrypted() || evt.shouldAttemptDecryption()) {
        return;
    }
    emit({ event: await eventJSON(evt) });
}
client.on(sdk.RoomEvent.Timeline, (evt) => {
    report(evt).catch((err) => console.error("failed to report event", err));
});
client.on(sdk.MatrixEventEvent.Decrypted, (evt) => {
    report(evt).catch((err) => console.error("failed to report event", err));
});

// encryptAttachment encrypts data as the spec's encrypted files (AES-256-CTR, SHA-256 of the
// ciphertext) and returns the ciphertext and the file info without its url.
async function encryptAttachment(data) {
    const key = await webcrypto.subtle.generateKey({ name: "AES-CTR", length: 256 }, true, ["encrypt", "decrypt"]);
    const iv = new Uint8Array(16);
    webcrypto.getRandomValues(iv.subarray(0, 8));
    const ciphertext = new Uint8Array(await webcrypto.subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, data));
    const hash = await webcrypto.subtle.digest("SHA-256", ciphertext);
    const unpadded = (bytes) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
    return {
        ciphertext,
        file: {
            v: "v2",
            key: await webcrypto.subtle.exportKey("jwk", key),
            iv: unpadded(iv),
            hashes: { sha256: unpadded(hash) },
        },
    };
}

// decryptAttachment checks the hash of ciphertext and decrypts it with file's key.
async function decryptAttachment(ciphertext, file) {
    const hash = Buffer.from(await webcrypto.subtle.digest("SHA-256", ciphertext)).toString("base64").replace(/=+$/, "");
    if (hash !== file.hashes.sha256.replace(/=+$/, "")) {
        throw new Error("the encrypted file's SHA-256 does not match");
    }
    const key = await webcrypto.subtle.importKey("jwk", file.key, { name: "AES-CTR" }, false, ["decrypt"]);
    const iv = Buffer.from(file.iv, "base64");
    return new Uint8Array(await webcrypto.subtle.decrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, ciphertext));
}

const ops = {
    // join {room}: joins a room (accepts an invite).
    async join({ room }) {
        await client.joinRoom(room);
        return {};
    },
    // send {room, type, content}: sends an event; the SDK encrypts it in an encrypted room.
    async send({ room, type, content }) {
        const resp = await client.sendEvent(room, type, content);
        return { event_id: resp.event_id };
    },
    // send_image {room, data (base64), mimetype, name}: uploads data as an encrypted file and sends
    // it as m.image.
    async send_image({ room, data, mimetype, name }) {
        const plain = Buffer.from(data, "base64");
        const { ciphertext, file } = await encryptAttachment(plain);
        const upload = await client.uploadContent(Buffer.from(ciphertext), { type: "application/octet-stream", includeFilename: false });
        const resp = await client.sendEvent(room, "m.room.message", {
            msgtype: "m.image",
            body: name,
            file: { ...file, url: upload.content_uri },
            info: { mimetype, size: plain.length },
        });
        return { event_id: resp.event_id };
    },
    // download_file {file}: downloads an encrypted file and returns its plaintext (base64).
    async download_file({ file }) {
        const url = client.mxcUrlToHttp(file.url);
        const resp = await fetch(url);
        if (!resp.ok) {
            throw new Error(`download of ${file.url} failed: HTTP ${resp.status}`);
        }
        const plain = await decryptAttachment(new Uint8Array(await resp.arrayBuffer()), file);
        return { data: Buffer.from(plain).toString("base64") };
    },
    // room_encrypted {room}: whether the client encrypts in the room.
    async room_encrypted({ room }) {
        return { encrypted: await crypto.isEncryptionEnabledInRoom(room) };
    },
    // device_status {user, device}: how the client trusts another user's device.
    async device_status({ user, device }) {
        const status = await crypto.getDeviceVerificationStatus(user, device);
        if (!status) {
            return { known: false };
        }
        return {
            known: true,
            signed_by_owner: status.signedByOwner,
            cross_signing_verified: status.crossSigningVerified,
            locally_verified: status.localVerified,
        };
    },
};

async function handle(line) {
    let req;
    try {
        req = JSON.parse(line);
    } catch (err) {
        console.error("unparsable request", line);
        return;
    }
    const op = ops[req.op];
    if (!op) {
        emit({ id: req.id, error: `unknown op ${req.op}` });
        return;
    }
    try {
        emit({ id: req.id, result: await op(req) });
    } catch (err) {
        emit({ id: req.id, error: String(err?.stack ?? err) });
    }
}

client.once(sdk.ClientEvent.Sync, (state) => {
    if (state === "PREPARED") {
        emit({ ready: { device_id: client.getDeviceId() } });
    } else {
        console.error("first sync ended in state", state);
        process.exit(1);
    }
});
await client.startClient({ initialSyncLimit: 50 });

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
    handle(line);
});
input.on("close", () => {
    client.stopClient();
    process.exit(0);
});
