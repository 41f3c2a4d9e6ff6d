/** The part of `hpack.js` (which ships no types) that authority-front.ts uses. */
declare module 'hpack.js' {
  import type { Duplex } from 'node:stream';

  namespace hpack {
    interface Header {
      name: string;
      value: string;
      neverIndex?: boolean;
    }
    interface TableOptions {
      table: { size: number };
    }
    /** Header blocks in (write), headers out (read, object mode). */
    interface Decompressor extends Duplex {
      execute(): void;
    }
    /** Header lists in (write), encoded blocks out (read). */
    type Compressor = Duplex;
  }

  const hpack: {
    decompressor: { create(options: hpack.TableOptions): hpack.Decompressor };
    compressor: { create(options: hpack.TableOptions): hpack.Compressor };
  };
  export = hpack;
}
