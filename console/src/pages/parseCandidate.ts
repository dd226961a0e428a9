/**
 * The candidate rule set's JSON.
 * @throws CandidateNotJson saying where it is not JSON.
 */
export function parseCandidate(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CandidateNotJson(`The candidate is not JSON: ${(error as Error).message}`);
  }
}

/** The candidate text is not JSON (said before anything is sent). */
export class CandidateNotJson extends Error {}
