/** A small fetch wrapper for the Dapr HTTP API tests. */
export interface HttpResult {
  status: number;
  text: string;
  headers: Headers;
  /** The body parsed as JSON (undefined when empty or not JSON). */
  json: unknown;
}

export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: string | object,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, headers: res.headers, json };
}
