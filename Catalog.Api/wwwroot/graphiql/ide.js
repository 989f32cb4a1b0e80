// The catalog's GraphQL IDE: GraphiQL (bundled from npm at build time, no internet needed) with the
// caller's bearer token kept for this browser session (session storage) and sent with every request.
(function () {
  const key = 'catalog.token';
  const box = document.getElementById('token');
  const who = document.getElementById('who');
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  let token = sessionStorage.getItem(key) || '';
  box.value = token;

  // GraphQL answers come back as they are; a refusal before GraphQL runs (a ProblemDetails body:
  // 401 without a token, 413, 429) is shown as a GraphQL error carrying its plain message.
  async function fetcher(params) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const response = await fetch('graphql', { method: 'POST', headers, body: JSON.stringify(params) });
    const text = await response.text();
    let body;
    try { body = JSON.parse(text); } catch { body = null; }
    if (body && ('data' in body || 'errors' in body)) return body;
    const message = body && (body.detail || body.title) || text || response.statusText;
    return { errors: [{ message: `${response.status}: ${message}`, extensions: { code: body && body.code } }] };
  }

  async function whoami() {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    try {
      const response = await fetch('api/v1/whoami', { headers });
      const body = await response.json();
      who.className = response.ok ? '' : 'bad';
      who.textContent = response.ok ? `as ${body.subject}` : (body.detail || body.title || `${response.status}`);
    } catch (e) {
      who.className = 'bad';
      who.textContent = String(e);
    }
  }

  const defaultQuery = `# The catalog's GraphQL API. Ctrl-Enter runs; Ctrl-Space completes; the Docs
# button (top left) lists every field. Paste a token above to act as yourself.
{
  stat(path: "/belle") { path type owner group mode }
  storageElements { name site state readEnabled writeEnabled }
}
`;

  // A new token remounts the IDE, so the schema is fetched again with it.
  let generation = 0;
  function render() {
    generation++;
    root.render(React.createElement(GraphiQL, { key: generation, fetcher, defaultQuery, shouldPersistHeaders: false }));
    whoami();
  }

  document.getElementById('use').addEventListener('click', () => {
    token = box.value.trim();
    if (token) sessionStorage.setItem(key, token); else sessionStorage.removeItem(key);
    render();
  });
  box.addEventListener('keydown', e => { if (e.key === 'Enter') document.getElementById('use').click(); });
  document.getElementById('forget').addEventListener('click', () => {
    box.value = '';
    document.getElementById('use').click();
  });
  render();
})();
