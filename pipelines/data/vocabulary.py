"""The fixed word lists the synthetic generator draws from: countries, city names, ad topics.

Pure data and arithmetic, no randomness, so every run and every seed uses the same vocabulary.
"""

from __future__ import annotations

COUNTRIES: tuple[str, ...] = (
    "Afghanistan", "Albania", "Algeria", "American Samoa", "Andorra", "Angola", "Anguilla",
    "Antarctica", "Antigua and Barbuda", "Argentina", "Armenia", "Aruba", "Australia", "Austria",
    "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh", "Barbados", "Belarus", "Belgium", "Belize",
    "Benin", "Bermuda", "Bhutan", "Bolivia", "Bosnia and Herzegovina", "Botswana",
    "Bouvet Island", "Brazil", "British Indian Ocean Territory", "British Virgin Islands",
    "Brunei Darussalam", "Bulgaria", "Burkina Faso", "Burundi", "Cambodia", "Cameroon", "Canada",
    "Cape Verde", "Cayman Islands", "Central African Republic", "Chad", "Chile", "China",
    "Christmas Island", "Cocos (Keeling) Islands", "Colombia", "Comoros", "Congo",
    "Cook Islands", "Costa Rica", "Cote d'Ivoire", "Croatia", "Cuba", "Cyprus", "Czech Republic",
    "Denmark", "Djibouti", "Dominica", "Dominican Republic", "Ecuador", "Egypt", "El Salvador",
    "Equatorial Guinea", "Eritrea", "Estonia", "Ethiopia", "Falkland Islands (Malvinas)",
    "Faroe Islands", "Fiji", "Finland", "France", "French Guiana", "French Polynesia",
    "French Southern Territories", "Gabon", "Gambia", "Georgia", "Germany", "Ghana", "Gibraltar",
    "Greece", "Greenland", "Grenada", "Guadeloupe", "Guam", "Guatemala", "Guernsey", "Guinea",
    "Guinea-Bissau", "Guyana", "Haiti", "Heard Island and McDonald Islands",
    "Holy See (Vatican City State)", "Honduras", "Hong Kong", "Hungary", "Iceland", "India",
    "Indonesia", "Iran", "Iraq", "Ireland", "Isle of Man", "Israel", "Italy", "Jamaica", "Japan",
    "Jersey", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Korea", "Kuwait", "Kyrgyz Republic",
    "Lao People's Democratic Republic", "Latvia", "Lebanon", "Lesotho", "Liberia",
    "Libyan Arab Jamahiriya", "Liechtenstein", "Lithuania", "Luxembourg", "Macao", "Macedonia",
    "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta", "Marshall Islands",
    "Martinique", "Mauritania", "Mauritius", "Mayotte", "Mexico", "Micronesia", "Moldova",
    "Monaco", "Mongolia", "Montenegro", "Montserrat", "Morocco", "Mozambique", "Myanmar",
    "Namibia", "Nauru", "Nepal", "Netherlands", "Netherlands Antilles", "New Caledonia",
    "New Zealand", "Nicaragua", "Niger", "Nigeria", "Niue", "Norfolk Island",
    "Northern Mariana Islands", "Norway", "Oman", "Pakistan", "Palau",
    "Palestinian Territory", "Panama", "Papua New Guinea", "Paraguay", "Peru", "Philippines",
    "Pitcairn Islands", "Poland", "Portugal", "Puerto Rico", "Qatar", "Reunion", "Romania",
    "Russian Federation", "Rwanda", "Saint Barthelemy", "Saint Helena",
    "Saint Kitts and Nevis", "Saint Lucia", "Saint Martin", "Saint Pierre and Miquelon",
    "Saint Vincent and the Grenadines", "Samoa", "San Marino", "Sao Tome and Principe",
    "Saudi Arabia", "Senegal", "Serbia", "Seychelles", "Sierra Leone", "Singapore", "Slovakia",
    "Slovenia", "Solomon Islands", "Somalia", "South Africa",
    "South Georgia and the South Sandwich Islands", "Spain", "Sri Lanka", "Sudan", "Suriname",
    "Svalbard & Jan Mayen Islands", "Swaziland", "Sweden", "Switzerland",
    "Syrian Arab Republic", "Taiwan", "Tajikistan", "Tanzania", "Thailand", "Timor-Leste",
    "Togo", "Tokelau", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Turkmenistan",
    "Turks and Caicos Islands", "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates",
    "United Kingdom", "United States Minor Outlying Islands", "United States of America",
    "United States Virgin Islands", "Uruguay", "Uzbekistan", "Vanuatu", "Venezuela", "Vietnam",
    "Wallis and Futuna", "Western Sahara", "Yemen", "Zambia", "Zimbabwe",
)  # fmt: skip

_CITY_STEMS = (
    "Aaron", "Adam", "Alexander", "Alicia", "Amanda", "Amy", "Andrea", "Andrew", "Angela", "Anna",
    "April", "Ashley", "Barbara", "Bell", "Benjamin", "Bowen", "Brandon", "Brenda", "Brian",
    "Brittany", "Carl", "Carlos", "Cassandra", "Cassie", "Charles", "Chelsea", "Christina",
    "Christopher", "Colin", "Craig", "Cynthia", "Daniel", "Danielle", "David", "Debra", "Dennis",
    "Derek", "Diana", "Donald", "Douglas", "Dylan", "Edward", "Elizabeth", "Emily", "Eric",
    "Erica", "Evans", "Frank", "Gary", "George", "Gregory", "Guy", "Hamilton", "Hannah", "Hansen",
    "Harper", "Heather", "Holly", "Jacqueline", "Jamie", "Jason", "Jeffery", "Jennifer", "Jeremy",
    "Jessica", "Jodi", "John", "Jones", "Joseph", "Joshua", "Julie", "Justin", "Karen", "Katie",
    "Kelly", "Kevin", "Kimberly", "Kristin", "Laura", "Lisa", "Manuel", "Maria", "Mark", "Megan",
    "Melinda", "Melissa", "Michael", "Michelle", "Miller", "Monica", "Morgan", "Nancy", "Nathan",
    "Nicole", "Palmer", "Pamela", "Patrick", "Paul", "Phelps", "Pruitt", "Rachel", "Ramirez",
    "Rebecca", "Richard", "Robert", "Ryan", "Samantha", "Sandra", "Sarah", "Scott", "Sharon",
    "Shawn", "Stephanie", "Steven", "Tara", "Teresa", "Terri", "Theresa", "Thomas", "Timothy",
    "Travis", "Tyler", "Victoria", "William", "Wright", "Zachary",
)  # fmt: skip
_CITY_PREFIXES = ("", "East ", "West ", "North ", "South ", "New ", "Lake ", "Port ")
_CITY_SUFFIXES = (
    "", "burgh", "ton", "furt", "berg", "stad", "bury", "town", "mouth", "side", "chester",
    "port", "view", "fort", "land", "shire", "borough", "haven", "ville", "field",
)  # fmt: skip
N_CITIES = 970

TOPIC_ADJECTIVES = (
    "Adaptive", "Assimilated", "Automated", "Balanced", "Business-focused", "Centralized",
    "Cloned", "Compatible", "Configurable", "Cross-group", "Cross-platform", "Customer-focused",
    "Customizable", "Decentralized", "Devolved", "Distributed", "Diverse", "Enhanced",
    "Ergonomic", "Exclusive", "Extended", "Focused", "Front-line", "Fully-configurable",
    "Function-based", "Grass-roots", "Horizontal", "Implemented", "Innovative", "Integrated",
    "Intuitive", "Managed", "Mandatory", "Monitored", "Multi-channeled", "Multi-layered",
    "Networked", "Object-based", "Open-architected", "Open-source", "Operative", "Optimized",
    "Optional", "Organic", "Organized", "Persevering", "Persistent", "Phased", "Polarized",
    "Pre-emptive", "Proactive", "Profit-focused", "Profound", "Programmable", "Progressive",
    "Public-key", "Quality-focused", "Re-contextualized", "Re-engineered", "Reactive",
    "Realigned", "Reduced", "Reverse-engineered", "Robust", "Seamless", "Secured",
    "Self-enabling", "Sharable", "Stand-alone", "Streamlined", "Switchable", "Synchronized",
    "Synergistic", "Team-oriented", "Total", "Triple-buffered", "Universal", "Upgradable",
    "User-centric", "User-friendly", "Versatile", "Virtual", "Vision-oriented", "Visionary",
)  # fmt: skip
TOPIC_BUZZWORDS = (
    "24/7", "3rdgeneration", "4thgeneration", "5thgeneration", "6thgeneration", "actuating",
    "analyzing", "asymmetric", "asynchronous", "attitude-oriented", "background",
    "bandwidth-monitored", "bi-directional", "bifurcated", "bottom-line", "clear-thinking",
    "client-driven", "client-server", "coherent", "cohesive", "composite", "content-based",
    "context-sensitive", "contextually-based", "dedicated", "demand-driven", "didactic",
    "directional", "discrete", "disintermediate", "dynamic", "eco-centric", "empowering",
    "encompassing", "even-keeled", "executive", "explicit", "exuding", "fault-tolerant",
    "foreground", "fresh-thinking", "full-range", "global", "grid-enabled", "heuristic",
    "high-level", "holistic", "homogeneous", "human-resource", "hybrid", "impactful",
    "incremental", "intangible", "interactive", "intermediate", "leadingedge", "local",
    "logistical", "maximized", "methodical", "mission-critical", "mobile", "modular",
    "motivating", "multi-state", "multi-tasking", "multimedia", "national", "needs-based",
    "neutral", "non-volatile", "object-oriented", "optimal", "optimizing", "radical",
    "real-time", "reciprocal", "regional", "responsive", "scalable", "secondary",
    "solution-oriented", "stable", "static", "system-worthy", "systematic", "systemic",
    "tangible", "tertiary", "transitional", "uniform", "upward-trending", "user-facing",
    "value-added", "web-enabled", "well-modulated", "zero-administration", "zero-defect",
    "zero-tolerance",
)  # fmt: skip
TOPIC_NOUNS = (
    "ability", "access", "adapter", "algorithm", "alliance", "analyzer", "application",
    "approach", "architecture", "archive", "array", "attitude", "benchmark",
    "budgetary management", "capability", "capacity", "challenge", "circuit", "collaboration",
    "complexity", "concept", "conglomeration", "contingency", "core", "customer loyalty",
    "data-warehouse", "database", "definition", "emulation", "encoding", "encryption",
    "extranet", "firmware", "flexibility", "focus group", "forecast", "frame", "framework",
    "function", "functionalities", "groupware", "hardware", "help-desk", "hierarchy", "hub",
    "implementation", "info-mediaries", "infrastructure", "initiative", "installation",
    "instruction set", "interface", "internet solution", "intranet", "knowledge user",
    "knowledgebase", "leverage", "matrices", "matrix", "methodology", "middleware", "migration",
    "model", "moderator", "monitoring", "moratorium", "neural-net", "open architecture",
    "open system", "orchestration", "paradigm", "parallelism", "policy", "portal",
    "pricing structure", "process improvement", "product", "productivity", "project",
    "projection", "protocol", "secured line", "service-desk", "software", "solution",
    "standardization", "strategy", "structure", "success", "superstructure", "support",
    "synergy", "system engine", "task-force", "throughput", "time-frame", "toolset",
    "utilization", "website", "workforce",
)  # fmt: skip


def _build_city_names() -> tuple[str, ...]:
    """The fixed list of N_CITIES distinct synthetic city names (pure arithmetic, no RNG)."""
    combos = [
        (p, s) for p in _CITY_PREFIXES for s in _CITY_SUFFIXES if p or s
    ]  # every combo has a prefix or a suffix
    names: list[str] = []
    seen: set[str] = set()
    k = 0
    while len(names) < N_CITIES:
        prefix, suffix = combos[(k * 31) % len(combos)]
        name = f"{prefix}{_CITY_STEMS[k % len(_CITY_STEMS)]}{suffix}"
        if name not in seen:
            seen.add(name)
            names.append(name)
        k += 1
    return tuple(names)


CITIES: tuple[str, ...] = _build_city_names()
