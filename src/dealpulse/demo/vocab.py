"""Names and words of the synthetic department: managers, companies, people, products.

Person and company names are Russian-looking in every language; the rest (lost reasons, products,
industries, regions, positions, needs) comes from the i18n catalogue `demo.yaml`.
"""

from __future__ import annotations

import numpy as np

from dealpulse.i18n import t

MALE_FIRST = ("Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Иван", "Павел", "Николай",
              "Артём", "Максим", "Илья", "Егор", "Роман", "Владимир", "Кирилл")
FEMALE_FIRST = ("Анна", "Екатерина", "Мария", "Ольга", "Татьяна", "Наталья", "Елена", "Юлия",
                "Ирина", "Дарья", "Светлана", "Ксения", "Виктория", "Алина", "Марина")
LAST = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
        "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
        "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
        "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв")
PATRONYMIC_INITIALS = "АВГДЕИКМНОПСЮ"

COMPANY_HEAD = ("Север", "Юг", "Восток", "Техно", "Агро", "Строй", "Энерго", "Металл", "Торг",
                "Инфо", "Меди", "Фарм", "Транс", "Лог", "Про", "Альфа", "Гео", "Эко", "Био",
                "Авто", "Сиб", "Урал", "Волга", "Балт", "Кама", "Дон", "Нева", "Полюс", "Вектор", "Бизнес")
COMPANY_TAIL = ("строй", "торг", "пром", "сервис", "лайн", "систем", "маркет", "групп", "трейд",
                "снаб", "тех", "инвест", "логистик", "ресурс", "холдинг", "софт", "комплект",
                "плюс", "проект", "фуд", "маш", "сеть", "дом", "лаб")
COMPANY_FORM = {"smb": ("ООО", "ООО", "ООО", "ИП"), "mid": ("ООО", "АО"), "enterprise": ("АО", "ПАО", "ГК")}

LOST_REASONS = ("no_response", "not_a_fit", "no_budget", "price", "competitor", "no_decision_maker",
                "postponed", "legal")
PRODUCTS = {
    "smb": ("subscription", "licenses", "pilot"),
    "mid": ("implementation", "licenses", "integration"),
    "enterprise": ("enterprise_rollout", "corporate_license", "expansion"),
}
INDUSTRIES = ("retail", "manufacturing", "logistics", "construction", "finance", "it", "energy", "agro", "healthcare")
REGIONS = ("moscow", "spb", "kazan", "ekaterinburg", "novosibirsk", "nnovgorod", "krasnodar", "samara")
REGION_WEIGHTS = (0.34, 0.16, 0.08, 0.09, 0.08, 0.09, 0.08, 0.08)
POSITIONS = ("ceo", "cfo", "cio", "cco", "procurement")
NEEDS = ("reporting", "cycle", "receivables", "scale", "replace", "compliance")
TEAMS = ("key_accounts", "moscow", "regions")

_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


def translit(text: str) -> str:
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())


def word(kind: str, key: str, lang: str) -> str:
    return t(f"demo.{kind}.{key}", lang)


def words(kind: str, keys: tuple[str, ...], lang: str) -> list[str]:
    return [word(kind, k, lang) for k in keys]


def manager_names(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """`n` distinct (full name, e-mail) pairs, about half of them women."""
    out: list[tuple[str, str]] = []
    seen_last: set[str] = set()
    seen_email: set[str] = set()
    distinct_last = n <= len(LAST)  # different surnames while there are enough of them
    while len(out) < n:
        female = rng.random() < 0.5
        first = FEMALE_FIRST[rng.integers(len(FEMALE_FIRST))] if female else MALE_FIRST[rng.integers(len(MALE_FIRST))]
        root = LAST[rng.integers(len(LAST))]
        if distinct_last and root in seen_last:
            continue
        seen_last.add(root)
        last = root + "а" if female else root
        email = f"{translit(first)[0]}.{translit(last)}"
        k = 2
        while email in seen_email:
            email, k = f"{translit(first)[0]}.{translit(last)}{k}", k + 1
        seen_email.add(email)
        out.append((f"{first} {last}", f"{email}@demo-sales.example"))
    return out


def company_names(rng: np.random.Generator, segments: np.ndarray, segment_names: tuple[str, ...]) -> np.ndarray:
    """A Russian-looking company name for each account (segment codes index `segment_names`)."""
    n = len(segments)
    head = rng.integers(len(COMPANY_HEAD), size=n)
    tail = rng.integers(len(COMPANY_TAIL), size=n)
    form_u = rng.random(n)
    names = np.empty(n, dtype=object)
    for code, seg in enumerate(segment_names):
        forms = COMPANY_FORM[seg]
        idx = np.flatnonzero(segments == code)
        f = (form_u[idx] * len(forms)).astype(np.int64)
        names[idx] = [f"{forms[a]} «{COMPANY_HEAD[b]}{COMPANY_TAIL[c]}»" for a, b, c in zip(f, head[idx], tail[idx])]
    return names


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` contact names such as "Орлова Е.В."."""
    female = rng.random(n) < 0.45
    last = rng.integers(len(LAST), size=n)
    i1 = rng.integers(len(PATRONYMIC_INITIALS), size=n)
    i2 = rng.integers(len(PATRONYMIC_INITIALS), size=n)
    return np.array([f"{LAST[a]}{'а' if f else ''} {PATRONYMIC_INITIALS[b]}.{PATRONYMIC_INITIALS[c]}."
                     for f, a, b, c in zip(female, last, i1, i2)], dtype=object)
