/** `lodash.camelcase` ships no types: the one function proto-shapes.ts calls. */
declare module 'lodash.camelcase' {
  function camelCase(value: string): string;
  export = camelCase;
}
