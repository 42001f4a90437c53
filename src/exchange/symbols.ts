/** Quote assets a spot symbol may end with, longest first so `FDUSD` wins over shorter suffixes. */
export const QUOTE_ASSETS = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'BTC', 'ETH', 'BNB', 'EUR', 'TRY'] as const;

/** The base and quote assets of a spot symbol (`BTCUSDT` → `BTC`, `USDT`), or undefined for an unknown quote. */
export function assetsOf(symbol: string): { base: string; quote: string } | undefined {
  for (const quote of QUOTE_ASSETS) {
    if (symbol.endsWith(quote) && symbol.length > quote.length) return { base: symbol.slice(0, -quote.length), quote };
  }
  return undefined;
}
