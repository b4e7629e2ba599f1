import {
  defineService,
  InvalidArgumentError,
  RpcClient,
  RpcServer,
  serverStream,
  unary,
} from '../src/index.ts';

// One definition gives both sides their types; no code generation.
const Inventory = defineService('inventory', {
  reserve: unary<{ sku: string; quantity: number }, { left: number }>({
    validate: (request) => {
      const { sku, quantity } = request as { sku: unknown; quantity: unknown };
      if (typeof sku !== 'string' || !Number.isInteger(quantity))
        throw new TypeError('need sku and integer quantity');
      return { sku, quantity: quantity as number };
    },
  }),
  watch: serverStream<{ sku: string }, number>(),
});

const stock = new Map([['apple', 10]]);
const server = new RpcServer();
server.register(Inventory, {
  reserve({ sku, quantity }) {
    const left = (stock.get(sku) ?? 0) - quantity;
    if (left < 0)
      throw new InvalidArgumentError(`Cannot reserve ${quantity} ${sku}: only ${stock.get(sku) ?? 0} left`);
    stock.set(sku, left);
    return { left };
  },
  async *watch({ sku }, context) {
    for (let i = 0; i < 3 && !context.signal.aborted; i++) yield stock.get(sku) ?? 0;
  },
});
const address = await server.listen('127.0.0.1:0');

const client = new RpcClient({ address });
const inventory = client.service(Inventory);
console.log(await inventory.reserve({ sku: 'apple', quantity: 3 }, { timeoutMs: 1000 }));
try {
  await inventory.reserve({ sku: 'apple', quantity: 100 });
} catch (error) {
  // Remote errors arrive as the same class, with the same stable code.
  if (error instanceof InvalidArgumentError) console.log(error.code, error.message);
}
for await (const left of inventory.watch({ sku: 'apple' })) console.log('apples left:', left);

client.close();
await server.close();
