// Client code typed by the schemas `dcrf-schema` writes for the shop app's
// `Product` (interop/shop/openapi.json). typed.test.mjs generates the types
// into generated/ with json-schema-to-typescript and runs
// `tsc --strict --noEmit` on this file: every constant must type-check, and
// every `@ts-expect-error` line must be a real type error (an unused
// directive is itself an error), so the types are proven to be typed.

import type { Product, RetrieveReply } from './generated/retrieve-reply';
import type { ListReply } from './generated/list-reply';
import type { UpdateEvent } from './generated/update-event';
import type { DeleteEvent } from './generated/delete-event';
import type { CreateRequest } from './generated/create-request';
import type { CreateReply } from './generated/create-reply';
import type { PatchRequest } from './generated/patch-request';
import type { UpdateRequest } from './generated/update-request';
import type { RetrieveRequest } from './generated/retrieve-request';
import type { SubscribeInstanceRequest } from './generated/subscribe-instance-request';

const PK = '00000000-0000-4000-8000-000000000001';

// ---- typed client code that must compile -----------------------------------

export const product: Product = {
  id: PK,
  name: 'Ethiopia Yirgacheffe 250 g',
  price: '12.50',
  in_stock: true,
  category: 'beans',
  updated_at: '2026-11-29T23:02:21.846694Z',
};

export const retrieve: RetrieveRequest = { action: 'retrieve', request_id: 1, pk: PK };
export const subscribe: SubscribeInstanceRequest = { action: 'subscribe_instance', request_id: 2, pk: PK };
export const reply: RetrieveReply = { errors: [], data: product, action: 'retrieve', response_status: 200, request_id: 1 };
export const list: ListReply = { errors: [], data: [product], action: 'list', response_status: 200, request_id: 3 };
export const event: UpdateEvent = { errors: [], data: { ...product, price: '13.75' }, action: 'update', response_status: 200, request_id: 2 };
export const deleted: DeleteEvent = { errors: [], data: { pk: PK }, action: 'delete', response_status: 204, request_id: 2 };
export const create: CreateRequest = {
  action: 'create',
  request_id: 4,
  data: { name: 'Hand grinder (steel)', price: '89.00', category: 'equipment', secret_note: 'supplier B' },
};
export const created: CreateReply = { errors: [], data: product, action: 'create', response_status: 201, request_id: 4 };
export const update: UpdateRequest = { action: 'update', request_id: 5, pk: PK, data: { name: 'Renamed', price: '5.00' } };
export const patch: PatchRequest = { action: 'patch', request_id: 6, pk: PK, data: { in_stock: false } };

// Reading typed fields: no casts, no `unknown`.
export function totalPrice(r: ListReply): number {
  return r.data.reduce((sum, p) => sum + Number.parseFloat(p.price), 0);
}
export function inStockNames(e: UpdateEvent): string[] {
  return e.data.in_stock ? [e.data.name.toUpperCase()] : [];
}
export function categoryLabel(p: Product): string {
  switch (p.category) {
    case 'beans':
      return 'Beans';
    case 'equipment':
      return 'Equipment';
    case 'accessories':
      return 'Accessories';
  }
}

// ---- wrong field types the generated types must reject ---------------------

// @ts-expect-error price is a decimal string ("9.99"), not a number
export const numberPrice: Product = { id: PK, name: 'x', price: 9.99, in_stock: true, category: 'beans', updated_at: '2026-11-29T23:02:21Z' };
// @ts-expect-error in_stock is a boolean, not "yes"
export const stringStock: Product = { id: PK, name: 'x', price: '1.00', in_stock: 'yes', category: 'beans', updated_at: '2026-11-29T23:02:21Z' };
// @ts-expect-error category is one of beans, equipment, accessories
export const badCategory: Product = { id: PK, name: 'x', price: '1.00', in_stock: true, category: 'tea', updated_at: '2026-11-29T23:02:21Z' };
// @ts-expect-error secret_note is write-only: never part of a Product
export const leakedNote: Product = { id: PK, name: 'x', price: '1.00', in_stock: true, category: 'beans', updated_at: '2026-11-29T23:02:21Z', secret_note: 's' };
// @ts-expect-error updated_at is read-only: every Product the server sends has it
export const noTimestamp: Product = { id: PK, name: 'x', price: '1.00', in_stock: true, category: 'beans' };
// @ts-expect-error id is read-only: a create request cannot carry it
export const createWithId: CreateRequest = { action: 'create', data: { id: PK, name: 'x', price: '1.00' } };
// @ts-expect-error name is required on create
export const createWithoutName: CreateRequest = { action: 'create', data: { price: '1.00' } };
// @ts-expect-error a patch sends a decimal string, not a number
export const patchNumber: PatchRequest = { action: 'patch', pk: PK, data: { price: 2.5 } };
// @ts-expect-error a delete event's pk is the UUID string
export const numericPk: DeleteEvent = { errors: [], data: { pk: 1 }, action: 'delete', response_status: 204, request_id: 2 };
