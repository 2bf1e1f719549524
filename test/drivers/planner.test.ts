import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { lowerBound, planReads, type PlanPoint } from '../../src/drivers/modbus/planner.ts'

const opts = { maxRegisters: 125, maxBits: 2000, maxGap: 10 }
const reg = (key: string, address: number, width = 1, table: PlanPoint['table'] = 'holding'): PlanPoint => ({ key, table, address, width })

describe('request planner', () => {
  test('coalesces adjacent registers into one request', () => {
    assert.deepEqual(planReads([reg('a', 0), reg('b', 1), reg('c', 2, 2)], opts), [{ table: 'holding', start: 0, count: 4, points: ['a', 'b', 'c'] }])
  })

  test('reads through a gap up to max_gap and splits beyond it', () => {
    // gap between a (ends 2) and b (starts 12) is 10 → read through; b (ends 14) to c at 25 is 11 → split
    assert.deepEqual(planReads([reg('a', 0, 2), reg('b', 12, 2), reg('c', 25)], opts), [
      { table: 'holding', start: 0, count: 14, points: ['a', 'b'] },
      { table: 'holding', start: 25, count: 1, points: ['c'] },
    ])
  })

  test('never asks for more than 125 registers in one request', () => {
    // 70 float32 points back to back = 140 registers → 62 + 8 points (124 + 16 registers)
    const pts = Array.from({ length: 70 }, (_, i) => reg(`f${i}`, i * 2, 2))
    const plan = planReads(pts, opts)
    assert.equal(plan.length, 2)
    assert.deepEqual(
      plan.map((r) => [r.start, r.count, r.points.length]),
      [
        [0, 124, 62],
        [124, 16, 8],
      ],
    )
  })

  test('respects a smaller configured register limit', () => {
    const plan = planReads([reg('a', 0), reg('b', 1), reg('c', 2), reg('d', 3)], { ...opts, maxRegisters: 2 })
    assert.deepEqual(
      plan.map((r) => [r.start, r.count]),
      [
        [0, 2],
        [2, 2],
      ],
    )
  })

  test('keeps tables apart and orders requests coils, discrete inputs, input registers, holding registers', () => {
    const plan = planReads([reg('h', 0), reg('i', 0, 1, 'input'), reg('c', 0, 1, 'coil'), reg('d', 5, 1, 'discrete'), reg('c2', 7, 1, 'coil')], opts)
    assert.deepEqual(
      plan.map((r) => [r.table, r.start, r.count, r.points.join()]),
      [
        ['coil', 0, 8, 'c,c2'],
        ['discrete', 5, 1, 'd'],
        ['input', 0, 1, 'i'],
        ['holding', 0, 1, 'h'],
      ],
    )
  })

  test('packs up to 2000 bits per coil request', () => {
    const pts = Array.from({ length: 2500 }, (_, i) => reg(`c${i}`, i, 1, 'coil'))
    assert.deepEqual(
      planReads(pts, opts).map((r) => [r.start, r.count]),
      [
        [0, 2000],
        [2000, 500],
      ],
    )
  })

  test('plans the SDM120 register map (input registers with holes) into the hand-computed requests', () => {
    // voltage 0, current 6, active power 12, apparent 18, reactive 24, pf 30, frequency 70, import kWh 72, export kWh 74, total kWh 342
    const sdm = [0, 6, 12, 18, 24, 30, 70, 72, 74, 342].map((a, i) => reg(`p${i}`, a, 2, 'input'))
    assert.deepEqual(
      planReads(sdm, opts).map((r) => [r.start, r.count]),
      [
        [0, 32],
        [70, 6],
        [342, 2],
      ],
    )
    // with max_gap 0 (devices that refuse reads across holes) every non-adjacent point is its own request
    assert.equal(planReads(sdm, { ...opts, maxGap: 0 }).length, 8)
    // reading through every hole: 0..75 fits one request, 342 another
    assert.equal(lowerBound(sdm, opts), 2)
  })

  test('overlapping points (a bit field inside a register read as uint16) share the request', () => {
    const plan = planReads([reg('word', 10), { key: 'flag', table: 'holding', address: 10, width: 1 }, reg('next', 11)], opts)
    assert.deepEqual(plan, [{ table: 'holding', start: 10, count: 2, points: ['word', 'flag', 'next'] }])
  })

  test('refuses a point wider than one request may read', () => {
    assert.throws(() => planReads([reg('s', 0, 126)], opts), /more than one request may read/)
  })
})
