#!/usr/bin/env node
// Generates tests/adapters/fixtures/z2m_bridge_devices.json: a Zigbee2MQTT
// `zigbee2mqtt/bridge/devices` payload built from REAL device definitions of the
// npm package zigbee-herdsman-converters (MIT licence), pinned in package.json.
//
//   cd scripts/z2m_fixture && npm ci --ignore-scripts && node generate.mjs
//
// The per-device payload mirrors Zigbee2MQTT 2.x (lib/extension/bridge.ts
// publishDevices()/getDefinitionPayload() and lib/model/device.ts exposes()):
//   * the definition is resolved the way Zigbee2MQTT does it, with
//     zhc.findByDevice(zhDevice) (modelID / manufacturerName / fingerprint);
//   * exposes: definition.exposes(device, options) when it is a function,
//     otherwise the array, followed by Zigbee2MQTT's own `linkquality` expose;
//   * serialisation like Zigbee2MQTT's util/stringify.ts: toJSON() honoured,
//     object keys sorted, undefined values and functions dropped.
// Fields that only exist on a live network (endpoints with clusters/bindings/
// reportings, software_build_id, date_code, icon) are left out.
// The output is deterministic: re-running gives a byte-identical file.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const zhc = require("zigbee-herdsman-converters");
// Public export "./devices/*": the list of every built-in definition.
const allDefinitions = require("zigbee-herdsman-converters/devices/index").default;
const zhcPackage = JSON.parse(readFileSync(require.resolve("zigbee-herdsman-converters/package.json"), "utf8"));

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, "..", "..");
const OUTPUT = join(REPO_ROOT, "tests", "adapters", "fixtures", "z2m_bridge_devices.json");

// Keep zhc quiet (debug/info), but surface warnings and errors on stderr.
const message = (m) => (typeof m === "function" ? m() : m);
zhc.setLogger({
    debug: () => {},
    info: () => {},
    warning: (m, ns) => console.error(`warning ${ns}: ${message(m)}`),
    error: (m, ns) => console.error(`error ${ns}: ${message(m)}`),
});

const MAINS = "Mains (single phase)";
const BATTERY = "Battery";

// Zigbee2MQTT model id -> friendly name, plus what the zigbee-herdsman device
// would report after its interview (manufacturerName, powerSource, modelID).
// `modelID` defaults to the definition's first zigbeeModel (or fingerprint).
const DEVICES = [
    { model: "LED1545G12", friendlyName: "kitchen/Floor Lamp", manufacturer: "IKEA of Sweden", powerSource: MAINS },
    { model: "E1757", friendlyName: "bedroom/Blind", manufacturer: "IKEA of Sweden", powerSource: BATTERY },
    { model: "WSDCGQ11LM", friendlyName: "Living Room Climate Sensor", manufacturer: "LUMI", powerSource: BATTERY },
    { model: "ZNCZ04LM", friendlyName: "office/desk plug", manufacturer: "LUMI", powerSource: MAINS },
    { model: "9290012573A", friendlyName: "hall/Colour Bulb", manufacturer: "Philips", powerSource: MAINS, modelID: "LCT015" },
    { model: "MCCGQ11LM", friendlyName: "Front Door Contact", manufacturer: "LUMI", powerSource: BATTERY },
    { model: "RTCGQ11LM", friendlyName: "hall/Motion Sensor", manufacturer: "LUMI", powerSource: BATTERY },
    { model: "E1743", friendlyName: "Bedside Remote", manufacturer: "IKEA of Sweden", powerSource: BATTERY },
    { model: "YRD426NRSC", friendlyName: "Back Door Lock", manufacturer: "Yale", powerSource: BATTERY },
    { model: "014G2461", friendlyName: "living room/Radiator", manufacturer: "Danfoss", powerSource: BATTERY },
    { model: "99432", friendlyName: "Ceiling Fan", manufacturer: "King Of Fans, Inc.", powerSource: MAINS },
    // Heating regulator whose climate expose carries a weekly schedule
    // (composite with nested `list` features).
    { model: "H1", friendlyName: "study/Heating Regulator", manufacturer: "ubisys", powerSource: BATTERY },
];

// Zigbee2MQTT's own expose, appended to every device's exposes (lib/model/device.ts).
const LINKQUALITY = new zhc.Numeric("linkquality", zhc.access.STATE)
    .withUnit("lqi")
    .withDescription("Link quality (signal strength)")
    .withValueMin(0)
    .withValueMax(255)
    .withCategory("diagnostic");

const COORDINATOR_IEEE = "0x00124b0000000001";
const ieeeFor = (index) => `0x00158d${(index + 1).toString(16).padStart(10, "0")}`;
const networkAddressFor = (index) => 0x1000 + (index + 1) * 0x11;

// Same conversion as Zigbee2MQTT's util/stringify.ts, producing plain data:
// toJSON() honoured, keys sorted, undefined/functions dropped, non-finite -> null.
function toPlain(value, stack = []) {
    if (value === null) return null;
    switch (typeof value) {
        case "string":
        case "boolean":
            return value;
        case "number":
            return Number.isFinite(value) ? value : null;
        case "bigint":
            return `${value}`;
        case "object":
            break;
        default:
            return undefined;
    }
    if (typeof value.toJSON === "function") {
        value = value.toJSON();
        if (value === null || typeof value !== "object") return toPlain(value, stack);
    }
    if (stack.includes(value)) throw new Error("circular structure in definition");
    stack.push(value);
    let result;
    if (Array.isArray(value)) {
        result = value.map((item) => toPlain(item, stack) ?? null);
    } else {
        result = {};
        for (const key of Object.keys(value).sort()) {
            const plain = toPlain(value[key], stack);
            if (plain !== undefined) result[key] = plain;
        }
    }
    stack.pop();
    return result;
}

function findDefinitionByModel(model) {
    const matches = allDefinitions.filter((definition) => definition.model === model);
    if (matches.length !== 1) {
        throw new Error(`expected exactly one definition with model '${model}', found ${matches.length}`);
    }
    return matches[0];
}

// Minimal stand-in for an interviewed zigbee-herdsman Device (what Zigbee2MQTT
// hands to findByDevice() and to an exposes function).
function makeZhDevice({ ieeeAddr, networkAddress, type, modelID, manufacturerName, powerSource }) {
    const endpoint = {
        ID: 1,
        deviceIeeeAddress: ieeeAddr,
        inputClusters: [],
        outputClusters: [],
        binds: [],
        configuredReportings: [],
        clusters: {},
        meta: {},
        supportsInputCluster: () => false,
        supportsOutputCluster: () => false,
        getInputClusters: () => [],
        getOutputClusters: () => [],
    };
    const device = {
        ieeeAddr,
        networkAddress,
        type,
        modelID,
        manufacturerName,
        powerSource,
        interviewState: "SUCCESSFUL",
        interviewCompleted: true,
        endpoints: [endpoint],
        meta: {},
        customClusters: {},
        getEndpoint: (id) => device.endpoints.find((e) => e.ID === id),
    };
    endpoint.getDevice = () => device;
    return device;
}

async function buildDevice(spec, index) {
    const raw = findDefinitionByModel(spec.model);
    const fingerprint = raw.fingerprint?.[0];
    const modelID = spec.modelID ?? raw.zigbeeModel?.[0] ?? fingerprint?.modelID;
    if (!modelID) throw new Error(`no modelID for ${spec.model}`);
    if (spec.modelID && !(raw.zigbeeModel ?? []).includes(spec.modelID)) {
        throw new Error(`${spec.modelID} is not a zigbeeModel of ${spec.model}`);
    }
    const manufacturer = fingerprint?.manufacturerName ?? spec.manufacturer;
    const type = spec.powerSource === BATTERY ? "EndDevice" : "Router";
    const zh = makeZhDevice({
        ieeeAddr: ieeeFor(index),
        networkAddress: networkAddressFor(index),
        type,
        modelID,
        manufacturerName: manufacturer,
        powerSource: spec.powerSource,
    });

    // Resolve exactly as Zigbee2MQTT does (Device.resolveDefinition).
    const definition = await zhc.findByDevice(zh, false);
    if (!definition || definition.model !== spec.model) {
        throw new Error(`findByDevice(${modelID}) gave ${definition?.model}, expected ${spec.model}`);
    }
    const deviceOptions = {};
    const exposes =
        typeof definition.exposes === "function" ? [...definition.exposes(zh, deviceOptions)] : [...definition.exposes];
    exposes.push(LINKQUALITY);

    return {
        ieee_address: zh.ieeeAddr,
        type,
        network_address: zh.networkAddress,
        supported: !definition.generated,
        friendly_name: spec.friendlyName,
        disabled: false,
        definition: {
            source: definition.externalConverterName ? "external" : definition.generated ? "generated" : "native",
            model: definition.model,
            vendor: definition.vendor,
            description: definition.description,
            exposes,
            supports_ota: !!definition.ota,
            options: definition.options ?? [],
            version: definition.version,
        },
        power_source: zh.powerSource,
        model_id: zh.modelID,
        interviewing: false,
        interview_completed: true,
        interview_state: "SUCCESSFUL",
        manufacturer: zh.manufacturerName,
    };
}

async function main() {
    const coordinator = {
        ieee_address: COORDINATOR_IEEE,
        type: "Coordinator",
        network_address: 0,
        supported: true,
        friendly_name: "Coordinator",
        disabled: false,
        definition: null,
        interviewing: false,
        interview_completed: true,
        interview_state: "SUCCESSFUL",
    };
    const devices = [coordinator];
    for (const [index, spec] of DEVICES.entries()) {
        devices.push(await buildDevice(spec, index));
    }

    const fixture = {
        generated_by: "scripts/z2m_fixture/generate.mjs",
        package: zhcPackage.name,
        version: zhcPackage.version,
        devices: toPlain(devices),
    };
    mkdirSync(dirname(OUTPUT), { recursive: true });
    writeFileSync(OUTPUT, `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`wrote ${relative(REPO_ROOT, OUTPUT)}: ${devices.length} devices, ${zhcPackage.name}@${zhcPackage.version}`);
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
