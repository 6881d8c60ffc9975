// The official OpenAI Node client against `griffin serve`: plain and
// streamed completions and chat, greedy, each stream's text equal to the
// plain response's. usage: node client.mjs BASE_URL (http://127.0.0.1:PORT/v1)
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0, timeout: 120000 });
let failed = 0;
function check(name, ok, detail) {
  if (ok) console.log(`node: ok: ${name}`);
  else {
    failed++;
    console.log(`node: FAIL: ${name}: ${detail}`);
  }
}

const models = await client.models.list();
const model = models.data[0].id;
check("models.list", models.data.length === 1 && typeof model === "string", JSON.stringify(models.data));

const cargs = { model, prompt: "Once upon a time", max_tokens: 16, temperature: 0 };
const plain = await client.completions.create(cargs);
check("completions.create", plain.object === "text_completion" && plain.usage.completion_tokens > 0 &&
  ["stop", "length"].includes(plain.choices[0].finish_reason), JSON.stringify(plain));
let streamed = "", finish = null, chunks = 0;
for await (const chunk of await client.completions.create({ ...cargs, stream: true })) {
  chunks++;
  streamed += chunk.choices[0].text;
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
check("completions.create stream", streamed === plain.choices[0].text && finish === plain.choices[0].finish_reason && chunks >= 2,
  `${JSON.stringify(streamed)} vs ${JSON.stringify(plain.choices[0].text)}, finish ${finish}`);

const messages = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say something." }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
check("chat.completions.create", chat.object === "chat.completion" && chat.choices[0].message.role === "assistant" &&
  typeof chat.choices[0].message.content === "string" && chat.usage.prompt_tokens > 0, JSON.stringify(chat));
let reply = "", role = null, usage = null;
const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  if (!chunk.choices.length) continue;
  if (chunk.choices[0].delta.role) role = chunk.choices[0].delta.role;
  reply += chunk.choices[0].delta.content ?? "";
}
check("chat.completions.create stream", reply === chat.choices[0].message.content && role === "assistant" &&
  usage && usage.total_tokens === chat.usage.total_tokens,
  `${JSON.stringify(reply)} vs ${JSON.stringify(chat.choices[0].message.content)}, usage ${JSON.stringify(usage)}`);

try {
  await client.completions.create({ model, prompt: "x", max_tokens: -5 });
  check("an error status", false, "no error thrown");
} catch (e) {
  check("an error status", e.status === 400 && e.error && typeof e.error.message === "string", `${e}`);
}
process.exit(failed ? 1 : 0);
