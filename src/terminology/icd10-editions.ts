import { ICD10_WHO, isIcd10NationalEdition } from './code-systems.js';

/**
 * WHO ICD-10 and its national editions. WHO codes are a category (M32) or a subcategory (M32.1); national
 * clinical editions add characters below them: China's national clinical edition 2.0 (M32.900, M32.101,
 * I10.x00x002), ICD-10-GM (E11.90, U07.1!). Such a code stands for a narrower concept under its WHO parent,
 * so it matches the lists that hold the parent, and the lists' exclusions apply to the parent as well as to
 * the full code (issue 17 item 2).
 */

/** The WHO category or subcategory a WHO-family code sits under: "M32.900" -> "M32.9", "I10.x00x002" -> "I10". */
const WHO_CODE = /^([A-Z]\d{2}(?:\.\d)?)/;

/** Whether codes of this system are read as WHO ICD-10 codes, extended or not. */
export function isWhoFamily(system: string): boolean {
  return system === ICD10_WHO || isIcd10NationalEdition(system);
}

/**
 * The WHO code an edition code extends, or undefined when the code is itself a WHO-shaped code (nothing
 * beyond the subcategory) or is not shaped like an ICD-10 code at all (then it is only matched as itself).
 */
export function whoParent(code: string): string | undefined {
  const m = WHO_CODE.exec(code.toUpperCase());
  if (!m || m[1]!.length === code.length) return undefined;
  return m[1];
}

/**
 * The WHO-system `code`s a coding stands for, most specific first: the code itself and, for an extension
 * code, its WHO parent. A national-edition system is read as WHO (its codes are WHO codes extended).
 */
export function whoCodes(system: string, code: string): readonly string[] {
  if (!isWhoFamily(system)) return [];
  const parent = whoParent(code);
  return parent ? [code, parent] : [code];
}
