/** One benchmark figure, with the peer measured in the same run when there is one. */
export interface BenchRecord {
  name: string;
  value: number;
  unit: string;
  peer?: string;
  peerValue?: number;
  ratio?: number;
  adapter?: string;
  notes?: string;
}
