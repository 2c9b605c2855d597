// Placeholder until the FHIR test server setup lands (issue #3): provides nothing, starts nothing.
export default function setup(): void {}
