/** fown.proto: the owner of an open file (F_SETOWN), a required part of most file messages. */
import type { MessageSchema } from './proto-reader.js';

export const FOWN: MessageSchema = {
  name: 'fown_entry',
  fields: {
    1: ['uid', 'uint32', 'required'],
    2: ['euid', 'uint32', 'required'],
    3: ['signum', 'uint32', 'required'],
    4: ['pid_type', 'uint32', 'required'],
    5: ['pid', 'uint32', 'required'],
  },
};
export interface FownEntry {
  uid: number;
  euid: number;
  signum: number;
  pid_type: number;
  pid: number;
}
