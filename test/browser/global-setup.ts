// Placeholder until the browser tests land (issue #4): provides nothing, starts nothing.
export default function setup(): void {}
