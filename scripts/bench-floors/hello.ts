// The floor of any Bun design: a compiled hello world (what `kraal --version` is measured against).
console.log("hello");
