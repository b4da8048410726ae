/**
 * The YAML parser, in a module of its own so that registries.d loads it with `await import()` only when it has a
 * file to parse. (A dynamic import of the `yaml` package itself would, in the esbuild bundle, give only the CommonJS
 * module as `default`: its named exports come through a static import like this one.)
 */
export { parse as parseYaml } from 'yaml';
